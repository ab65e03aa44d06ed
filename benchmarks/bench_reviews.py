"""Review batches: the cost per review of real reviews against trivial notebooks in the same pool.

Both batches go through the same runner (``run_batch``: validation, a process pool of two
workers, papermill, HTML rendering, manifest, harvest into a knowledge base created before the
clock starts) on the same machine in one run, so the ratio isolates what the review notebooks
themselves cost over a kernel that only imports pandas. That runner's kernel handling (a kernel
killed once its last cell is done, ready without waiting for a quiet IOPub, the notebook written
once) speeds the trivial batch as much as the real one. For reference the full batch is also set
against the same trivial notebooks run by stock papermill (``papermill.execute_notebook``, its
default engine, nothing rendered or recorded) in a pool of the same size: what executing a
notebook costs without this runner.
Whole-panel results are shared through ``OUT/.cache`` (goodpractice.cache): the "cold" batch
computes them once (in its first reviews), the "warm" batch finds them already there (a second
batch of the same period into the same output folder, ``force=True``), the steady state of a
43-force round. Also measured: ``import goodpractice`` in a fresh interpreter, one cache miss and
one hit of ``classify``, resuming a finished batch (every review skipped), rendering one page.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.common import report
from goodpractice import knowledge
from goodpractice.reviews.params import load_parameter_file
from goodpractice.reviews.render import render_html
from goodpractice.reviews.runner import run_batch

REPO = Path(__file__).resolve().parent.parent
TRIVIAL = REPO / "tests" / "notebooks" / "trivial.ipynb"
N_UNITS = 8  # forces per repeated batch
REPEAT = 2
FULL_REPEAT = 2  # the full batch of 43, trivial and real, interleaved


def _timed_batch(specs, kb: bool, warm: bool = False) -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix="bench-reviews-"))
    try:
        if kb:  # the knowledge base exists before every timed batch: creating it (schema, FTS,
            # seeds) is a cost per output folder, not per review, and would weigh on the
            # trivial batch alone
            knowledge.open_kb(out / "goodpractice.db").conn.close()
        if warm:  # the same batch once before: its whole-panel results are in OUT/.cache
            run_batch(specs, out, kb_path=True if kb else None, progress=False)
        start = time.perf_counter()
        df = run_batch(specs, out, kb_path=True if kb else None, progress=False, force=warm)
        elapsed = time.perf_counter() - start
        return elapsed, int((df.status != "ok").sum())
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _stock_papermill(n: int, out: str) -> None:
    import papermill

    papermill.execute_notebook(str(TRIVIAL), f"{out}/{n}.ipynb", parameters={"n": n},
                               kernel_name="goodpractice", progress_bar=False, log_output=False)


def _timed_stock_batch(n: int) -> float:
    out = tempfile.mkdtemp(prefix="bench-stock-")
    try:
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(_stock_papermill, range(n), [out] * n))
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _import_seconds(repeat: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import goodpractice; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, cwd=REPO).stdout) for _ in range(repeat)]
    return statistics.median(runs)


def _cache_costs() -> tuple[float, float]:
    import warnings

    from goodpractice.cache import cached
    from goodpractice.classify import classify
    from goodpractice.panel import load_example

    panel = load_example("forces")
    args = (panel, ["crime_total", "crime_vehicle", "arrests"], "2017-18")
    folder = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classify(*args, k=7)  # imports and first-call costs out of the miss
            start = time.perf_counter()
            cached(classify, folder)(*args, k=7)
            miss = time.perf_counter() - start
            hits = []
            for _ in range(5):
                start = time.perf_counter()
                cached(classify, folder)(*args, k=7)
                hits.append(time.perf_counter() - start)
        return miss, statistics.median(hits)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    real = load_parameter_file(REPO / "parameters" / "unit_review_forces_2017-18.yaml")[:N_UNITS]
    trivial = [{"notebook": str(TRIVIAL), "batch": {"n": list(range(N_UNITS))}}]
    rows, per = [], {}
    for what, specs, kb, warm in (
        ("trivial notebooks (import pandas)", trivial, True, False),
        ("unit reviews (forces 2017-18), cold cache", real, True, False),
        ("unit reviews (forces 2017-18), warm cache", real, True, True),
    ):
        times, failed = [], 0
        for _ in range(REPEAT):
            t, f = _timed_batch(specs, kb, warm)
            times.append(t)
            failed += f
        per[what] = statistics.median(times) / N_UNITS
        rows.append({"what": what, "reviews": N_UNITS, "workers": 2,
                     "median_batch_s": statistics.median(times),
                     "per_review_s": per[what], "failed": failed, "runs": REPEAT})
    # The real batch (every force, 2017-18) once, cold: the whole-panel results computed by its
    # first reviews are shared by 43 instead of 8, as in a national round.
    full = load_parameter_file(REPO / "parameters" / "unit_review_forces_2017-18.yaml")
    everyone = [{"notebook": str(TRIVIAL), "batch": {"n": list(range(len(full)))}}]
    # Runs back to back (trivial, stock papermill, then reviews), FULL_REPEAT times: this
    # machine's speed drifts by 10-20% over minutes, so each round's own ratio is reported as well
    # as the medians.
    full_ts, full_ss, full_rs, full_failed, full_r_failed = [], [], [], 0, 0
    for _ in range(FULL_REPEAT):
        t, f = _timed_batch(everyone, True)
        full_ts.append(t)
        full_failed += f
        full_ss.append(_timed_stock_batch(len(full)))
        t, f = _timed_batch(full, True)
        full_rs.append(t)
        full_r_failed += f
    full_t, full_r = statistics.median(full_ts), statistics.median(full_rs)
    full_s = statistics.median(full_ss)
    pair_ratios = [r / t for r, t in zip(full_rs, full_ts)]
    stock_ratios = [r / s for r, s in zip(full_rs, full_ss)]
    rows.append({"what": "trivial notebooks, full batch", "reviews": len(full), "workers": 2,
                 "median_batch_s": full_t, "per_review_s": full_t / len(full),
                 "failed": full_failed, "runs": FULL_REPEAT})
    rows.append({"what": "trivial notebooks, full batch, stock papermill", "reviews": len(full),
                 "workers": 2, "median_batch_s": full_s, "per_review_s": full_s / len(full),
                 "runs": FULL_REPEAT})
    rows.append({"what": "unit reviews, every force 2017-18, cold cache", "reviews": len(full),
                 "workers": 2, "median_batch_s": full_r, "per_review_s": full_r / len(full),
                 "failed": full_r_failed, "runs": FULL_REPEAT})
    full_ratio = full_r / full_t
    rows.append({"what": "ratio real (cold cache, full batch) / trivial per review",
                 "per_review_s": full_ratio, "target": "<= 1.3",
                 "pairs": ", ".join(f"{x:.2f}" for x in pair_ratios)})
    stock_ratio = full_r / full_s
    rows.append({"what": "ratio real (cold cache, full batch) / stock papermill trivial",
                 "per_review_s": stock_ratio, "target": "reference",
                 "pairs": ", ".join(f"{x:.2f}" for x in stock_ratios)})
    base = per["trivial notebooks (import pandas)"]
    ratio = per["unit reviews (forces 2017-18), cold cache"] / base
    warm_ratio = per["unit reviews (forces 2017-18), warm cache"] / base
    rows.append({"what": "ratio real (cold cache) / trivial per review", "per_review_s": ratio,
                 "target": "<= 1.3"})
    rows.append({"what": "ratio real (warm cache) / trivial per review",
                 "per_review_s": warm_ratio, "target": "<= 1.3"})
    rows.append({"what": "import goodpractice (fresh interpreter)", "per_review_s":
                 _import_seconds(), "runs": 5})
    miss, hit = _cache_costs()
    rows.append({"what": "classify, 43 forces x 3 indicators: cache miss / hit",
                 "median_batch_s": miss, "per_review_s": hit})

    # Resume: a finished batch again costs validation and the manifest only.
    out = Path(tempfile.mkdtemp(prefix="bench-reviews-"))
    try:
        run_batch(trivial, out, progress=False)
        start = time.perf_counter()
        df = run_batch(trivial, out, progress=False)
        rows.append({"what": "resume a finished batch (all skipped)", "reviews": len(df),
                     "median_batch_s": time.perf_counter() - start})
        page = next((out / "reviews").glob("*.ipynb"))
        render_html(page)  # warm the exporter
        times = []
        for _ in range(5):
            start = time.perf_counter()
            render_html(page)
            times.append(time.perf_counter() - start)
        rows.append({"what": "render one page (warm exporter)", "per_review_s":
                     statistics.median(times)})
    finally:
        shutil.rmtree(out, ignore_errors=True)
    # A page with charts carries the Vega libraries: built once per machine (then read from the
    # user's cache folder), measured here uncached.
    import vl_convert as vlc

    from goodpractice.reviews import render

    start = time.perf_counter()
    bundle = vlc.javascript_bundle(render._CHART_LOADER, vl_version=render.VEGALITE_VERSION)
    rows.append({"what": "build the Vega bundle (once per machine)", "median_batch_s":
                 time.perf_counter() - start, "per_review_s": len(bundle) / 1e6,
                 "target": "per_review_s = MB"})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append({"what": "peak RSS MiB (runner / largest worker or kernel)",
                 "per_review_s": round(peak, 1), "median_batch_s": round(kids, 1)})
    report("reviews", rows, notes=f"ratio real/trivial per review = {ratio:.2f} with a cold cache, "
                                  f"{warm_ratio:.2f} with a warm one ({N_UNITS} reviews); "
                                  f"{full_ratio:.2f} for the full batch of {len(full)} with a "
                                  f"cold cache (pairs: {', '.join(f'{x:.2f}' for x in pair_ratios)}; "
                                  f"target 1.3); {stock_ratio:.2f} against the same trivial "
                                  "notebooks run by stock papermill")


if __name__ == "__main__":
    main()
