"""Review batches: the cost per review of real reviews against trivial notebooks in the same pool.

Both batches go through the same runner (``run_batch``: validation, a process pool of two
workers, papermill, HTML rendering, manifest, harvest) on the same machine in one run, so the
ratio isolates what the review notebooks themselves cost over a kernel that only imports pandas.
Also measured: resuming a finished batch (every review skipped) and rendering one page.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import report
from goodpractice.reviews.params import load_parameter_file
from goodpractice.reviews.render import render_html
from goodpractice.reviews.runner import run_batch

REPO = Path(__file__).resolve().parent.parent
TRIVIAL = REPO / "tests" / "notebooks" / "trivial.ipynb"
N_UNITS = 8  # forces per batch (the full batch is 43; the ratio is per review)
REPEAT = 2


def _timed_batch(specs, kb: bool) -> tuple[float, int]:
    out = Path(tempfile.mkdtemp(prefix="bench-reviews-"))
    try:
        start = time.perf_counter()
        df = run_batch(specs, out, kb_path=True if kb else None, progress=False)
        elapsed = time.perf_counter() - start
        return elapsed, int((df.status != "ok").sum())
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    real = load_parameter_file(REPO / "parameters" / "unit_review_forces_2017-18.yaml")[:N_UNITS]
    trivial = [{"notebook": str(TRIVIAL), "batch": {"n": list(range(N_UNITS))}}]
    rows, per = [], {}
    for what, specs, kb in (("trivial notebooks (import pandas)", trivial, False),
                            ("unit reviews (forces 2017-18)", real, True)):
        times, failed = [], 0
        for _ in range(REPEAT):
            t, f = _timed_batch(specs, kb)
            times.append(t)
            failed += f
        per[what] = statistics.median(times) / N_UNITS
        rows.append({"what": what, "reviews": N_UNITS, "workers": 2,
                     "median_batch_s": statistics.median(times),
                     "per_review_s": per[what], "failed": failed, "runs": REPEAT})
    ratio = per["unit reviews (forces 2017-18)"] / per["trivial notebooks (import pandas)"]
    rows.append({"what": "ratio real / trivial per review", "per_review_s": ratio,
                 "target": "<= 1.3"})

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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows.append({"what": "peak RSS MiB (runner / largest worker or kernel)",
                 "per_review_s": round(peak, 1), "median_batch_s": round(kids, 1)})
    report("reviews", rows, notes=f"ratio real/trivial per review = {ratio:.2f} (target 1.3)")


if __name__ == "__main__":
    main()
