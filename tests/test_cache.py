"""The shared-results cache (goodpractice.cache): off by default, a hit equals the uncached
result, a changed panel or changed code misses, warnings are replayed, concurrent writers of one
key corrupt nothing; the runner gives its kernels the cache and the reviews read the same with
or without it. Also: `import goodpractice` stays light (no scipy.stats, scikit-learn,
vl-convert), which is what makes a cache hit cheap in a fresh kernel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from goodpractice import cache
from goodpractice.candidates import candidate_findings
from goodpractice.classify import classify
from goodpractice.compare import compare
from goodpractice.expected import expected
from goodpractice.funnel import funnel, funnel_curve
from goodpractice.panel import from_frames, load_example
from goodpractice.reviews.runner import run_batch

REPO = Path(__file__).resolve().parent.parent
PERIOD = "2017-18"
INDICATORS = ["crime_total", "arrests"]
CALLS: list[tuple] = []


def counted(panel, factor: float = 1.0) -> pd.DataFrame:
    """Rates of a panel times ``factor``; records each real call."""
    CALLS.append((panel.vintage, factor))
    out = panel.rates()[["unit", "period", "indicator", "rate"]].copy()
    out["rate"] = out["rate"] * factor
    return out


def noisy(panel) -> int:
    warnings.warn(f"a note about {panel.name}", UserWarning, stacklevel=2)
    return len(panel.units)


def small_panel(numerator_a: float = 10.0):
    units = pd.DataFrame({"unit": ["a", "b", "c"], "name": ["A", "B", "C"], "level": "force",
                          "parent": pd.NA, "population": [1000.0, 2000.0, 3000.0]})
    outcomes = pd.DataFrame({"unit": ["a", "b", "c"], "period": "2020-21", "indicator": "crime",
                             "numerator": [numerator_a, 25.0, 31.0],
                             "denominator": [1000.0, 2000.0, 3000.0]})
    indicators = pd.DataFrame({"indicator": ["crime"], "label": ["Crime"], "kind": ["rate"],
                               "higher_is_better": [False], "multiplier": [1000.0]})
    return from_frames(units=units, outcomes=outcomes, indicators=indicators, name="small")


@pytest.fixture
def forces():
    return load_example("forces")


def assert_same(a, b) -> None:
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
        return
    assert_frame_equal(a, b)
    assert json.dumps(a.attrs, sort_keys=True, default=str) == \
        json.dumps(b.attrs, sort_keys=True, default=str)


def test_off_without_a_folder(monkeypatch):
    monkeypatch.delenv(cache.ENV, raising=False)
    assert cache.cached(classify) is classify
    monkeypatch.setenv(cache.ENV, "")
    assert cache.cached(classify) is classify
    assert cache.cache_location() is None


def test_the_environment_variable_turns_it_on(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    fast = cache.cached(counted)
    assert fast is not counted and fast.uncached is counted
    panel = small_panel()
    CALLS.clear()
    assert_same(fast(panel, 2.0), counted(panel, 2.0))
    fast(panel, 2.0)
    assert len(CALLS) == 2  # one through the cache (a miss), one direct; the second was a hit


@pytest.mark.parametrize("name, call", [
    ("classify", lambda f, p: f(p, INDICATORS, PERIOD, k=7)),
    ("compare", lambda f, p: f(p, INDICATORS, PERIOD, k=7)),
    ("expected", lambda f, p: f(p, "arrests", PERIOD)),
    ("candidate_findings", lambda f, p: f(p, PERIOD, INDICATORS, measure="fte", k=7)),
])
def test_a_hit_equals_the_uncached_result(tmp_path, forces, name, call):
    func = {"classify": classify, "compare": compare, "expected": expected,
            "candidate_findings": candidate_findings}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = call(func, forces)
        miss = call(cache.cached(func, tmp_path), forces)
        started = time.perf_counter()
        hit = call(cache.cached(func, tmp_path), load_example("forces"))
        hit_s = time.perf_counter() - started
    assert_same(miss, direct)
    assert_same(hit, direct)
    assert hit_s < 2.0, f"a hit took {hit_s:.2f}s"


def test_funnel_and_its_curve_by_value(tmp_path, forces):
    rates = forces.rates("arrests").query("period == @PERIOD")
    fd = cache.cached(funnel, tmp_path)(rates, kind="rate", multiplier=1000.0)
    assert_same(fd, funnel(rates, kind="rate", multiplier=1000.0))
    assert_same(cache.cached(funnel_curve, tmp_path)(fd), funnel_curve(fd))
    # Same data, other settings in attrs: another key, another answer.
    other = cache.cached(funnel, tmp_path)(rates, kind="rate", multiplier=1000.0,
                                          overdispersion="none")
    assert_same(cache.cached(funnel_curve, tmp_path)(other), funnel_curve(other))
    assert not funnel_curve(other).equals(funnel_curve(fd))


def test_a_changed_panel_misses(tmp_path):
    first, changed = small_panel(10.0), small_panel(12.0)
    assert first.vintage != changed.vintage
    fast = cache.cached(counted, tmp_path)
    CALLS.clear()
    a = fast(first)
    a_again = fast(small_panel(10.0))  # a panel read again: same vintage, a hit
    b = fast(changed)
    assert [v for v, _ in CALLS] == [first.vintage, changed.vintage]
    assert_same(a_again, a)
    assert_same(b, counted(changed))
    assert not a.equals(b)
    fast(first, factor=3.0)  # other arguments: a miss
    assert len(CALLS) == 4


def test_changed_code_misses(tmp_path, monkeypatch):
    panel = small_panel()
    CALLS.clear()
    cache.cached(counted, tmp_path)(panel)
    cache.cached(counted, tmp_path)(panel)
    assert len(CALLS) == 1
    monkeypatch.setattr(cache, "code_version", lambda: "another-version")
    cache.cached(counted, tmp_path)(panel)
    assert len(CALLS) == 2


def test_code_version_follows_the_sources():
    v = cache.code_version()
    assert len(v) == 16 and v == cache.code_version()


def test_a_panel_without_vintage_is_not_cached(tmp_path):
    from dataclasses import replace

    panel = replace(small_panel(), vintage="")
    CALLS.clear()
    fast = cache.cached(counted, tmp_path)
    fast(panel)
    fast(panel)
    assert len(CALLS) == 2
    assert not any(tmp_path.rglob("*.pkl"))


def test_warnings_are_replayed_on_hits(tmp_path):
    panel = small_panel()
    fast = cache.cached(noisy, tmp_path)
    for _ in range(2):  # the miss, then the hit
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert fast(panel) == 3
        assert [str(w.message) for w in caught] == ["a note about small"]
        assert caught[0].category is UserWarning


def test_a_torn_file_is_a_miss_and_is_written_again(tmp_path):
    panel = small_panel()
    fast = cache.cached(counted, tmp_path)
    CALLS.clear()
    first = fast(panel)
    (stored,) = tmp_path.rglob("*.pkl")
    stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])  # a crash mid-write
    assert_same(fast(panel), first)
    assert len(CALLS) == 2  # computed again ...
    assert_same(fast(panel), first)
    assert len(CALLS) == 2  # ... and stored whole: the next call is a hit


def test_a_cache_folder_that_cannot_be_written_only_costs_the_computation(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    panel = small_panel()
    CALLS.clear()
    fast = cache.cached(counted, blocker)
    assert_same(fast(panel), counted(panel))
    assert_same(fast(panel), counted(panel))
    assert len(CALLS) == 4  # every call computed; none failed
    assert blocker.read_text() == "a file where the cache folder would go"


def test_an_argument_pickle_cannot_key_is_computed_directly(tmp_path):
    panel = small_panel()
    fast = cache.cached(lambda p, f: len(p.units) * f(), tmp_path)
    assert fast(panel, lambda: 2) == 6  # a lambda does not pickle: no key, no file
    assert not any(tmp_path.rglob("*.pkl"))


RACER = textwrap.dedent("""
    import pickle, sys, time
    import pandas as pd
    from goodpractice.cache import cached
    from goodpractice.panel import from_frames

    def slow(panel, n):
        time.sleep(float(sys.argv[3]))  # everybody computes at once
        return pd.DataFrame({"i": range(n), "unit": [panel.name] * n})

    units = pd.DataFrame({"unit": ["a", "b"], "name": ["A", "B"], "level": "force",
                          "parent": pd.NA, "population": [1.0, 2.0]})
    outcomes = pd.DataFrame({"unit": ["a", "b"], "period": "2020-21", "indicator": "x",
                             "numerator": [1.0, 2.0], "denominator": [10.0, 20.0]})
    indicators = pd.DataFrame({"indicator": ["x"], "label": ["X"], "kind": ["rate"],
                               "higher_is_better": [True], "multiplier": [1.0]})
    panel = from_frames(units=units, outcomes=outcomes, indicators=indicators, name="race")
    start = time.perf_counter()
    out = cached(slow, sys.argv[1])(panel, 200_000)
    sys.stdout.buffer.write(pickle.dumps((out, time.perf_counter() - start)))
""")


def test_concurrent_writers_of_one_key_corrupt_nothing(tmp_path):
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    where = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, str(script), str(where), str(i), "1.0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
             for i in range(4)]
    import pickle

    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        results.append(pickle.loads(out))
    expected_frame = pd.DataFrame({"i": range(200_000), "unit": ["race"] * 200_000})
    for frame, _ in results:
        assert_frame_equal(frame, expected_frame)
    # Afterwards one complete result is there: a new process reads it without computing.
    p = subprocess.run([sys.executable, str(script), str(where), "late", "5.0"],
                       capture_output=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr.decode()
    frame, seconds = pickle.loads(p.stdout)
    assert_frame_equal(frame, expected_frame)
    assert seconds < 5.0
    assert len(list(where.rglob("*.pkl"))) == 1
    assert not [f for f in where.rglob("*") if f.is_file() and ".partial-" in f.name]


def test_a_panel_read_through_the_cache_equals_it_and_follows_its_files(tmp_path, monkeypatch):
    import shutil

    from goodpractice import panel as panel_module
    from goodpractice.panel import EXAMPLES_DIR, read_panel

    folder = tmp_path / "forces"
    shutil.copytree(EXAMPLES_DIR / "forces", folder)
    where = tmp_path / "cache"
    direct = read_panel(folder)
    first = cache.read_panel_cached(folder, location=where)
    assert first.vintage == direct.vintage and first.name == direct.name
    for table in ("units", "outcomes", "indicators", "resources", "targets", "context"):
        assert_frame_equal(getattr(first, table), getattr(direct, table))
    assert first.policing_model == direct.policing_model
    assert first.extras.keys() == direct.extras.keys()

    # A hit does not read the panel at all.
    def refuse(*args, **kwargs):
        raise AssertionError("read_panel called on a hit")

    monkeypatch.setattr(panel_module, "read_panel", refuse)
    assert_frame_equal(cache.read_panel_cached(folder, location=where).outcomes, direct.outcomes)
    # An edited file - an extra table too, which the vintage leaves out - is read afresh.
    with pytest.raises(AssertionError, match="read_panel called"):
        extra = next((folder / "extras").glob("*.csv"))
        extra.write_text(extra.read_text(encoding="utf-8") + "\n", encoding="utf-8")
        cache.read_panel_cached(folder, location=where)
    monkeypatch.undo()
    # Errors are never cached: a folder that is not a panel raises every time.
    for _ in range(2):
        with pytest.raises(panel_module.PanelFormatError, match="missing file"):
            cache.read_panel_cached(tmp_path / "cache", location=where)


def test_open_dataset_in_a_batch_reads_the_example_through_the_cache(tmp_path, monkeypatch):
    from goodpractice.reviews.params import open_dataset

    monkeypatch.setenv(cache.ENV, str(tmp_path))
    first = open_dataset("forces")
    assert list(tmp_path.rglob("*.pkl")), "the panel was cached"
    assert_frame_equal(open_dataset("forces").outcomes, first.outcomes)
    assert first.vintage == load_example("forces").vintage


def test_import_goodpractice_stays_light():
    code = ("import sys, goodpractice, goodpractice.cache, goodpractice.reviews; "
            "print(sorted(m for m in ('scipy.stats', 'scipy.optimize', 'sklearn', 'vl_convert', "
            "'statsmodels', 'pyfixest', 'joblib', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_review_kernel_reading_the_cache_imports_no_batch_machinery(tmp_path):
    """What the unit review's first cell imports, then a cached read of the panel: neither the
    runner (concurrent.futures.process), the renderer (nbconvert) nor joblib come with it."""
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["{cache.ENV}"] = {str(tmp_path)!r}
        from goodpractice.reviews import open_dataset
        from goodpractice.reviews.readers import readable
        from goodpractice.reviews.findings import emit_findings
        from goodpractice.cache import cached
        open_dataset("forces"); open_dataset("forces")
        print(sorted(m for m in ("goodpractice.reviews.runner", "goodpractice.reviews.render",
                                 "concurrent.futures.process", "nbconvert", "joblib")
                     if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert len(list(tmp_path.rglob("*.pkl"))) == 1


def test_funnel_levels_equal_scipy_to_the_last_bit():
    from scipy import stats

    from goodpractice.funnel import Z95, Z998

    assert Z95 == float(stats.norm.ppf(0.975))
    assert Z998 == float(stats.norm.ppf(0.999))


def _outputs(nb_path: Path) -> list[list[str]]:
    """Every code cell's outputs as text (plain, html, markdown, streams), minus the parameters."""
    nb = nbformat.read(nb_path, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []) \
                or "injected-parameters" in cell.metadata.get("tags", []):
            continue
        texts, streams = [], {}
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":  # the kernel's own file names differ
                # How a stream is cut into outputs depends on when the kernel flushed it.
                streams[o["name"]] = streams.get(o["name"], "") + re.sub(
                    r"ipykernel_\d+/\d+\.py", "<cell>", o["text"])
            for mime in ("text/plain", "text/html", "text/markdown",
                         "application/vnd.goodpractice.findings+json"):
                if mime in o.get("data", {}):
                    texts.append(json.dumps(o["data"][mime], sort_keys=True))
        cells.append(texts + [f"{name}: {text}" for name, text in sorted(streams.items())])
    return cells


def test_batch_reviews_read_the_same_with_and_without_the_cache(tmp_path):
    spec = {"notebook": "unit_review", "parameters": {
        "dataset": "forces", "period": PERIOD, "indicators": INDICATORS, "measure": "fte", "k": 7},
        "batch": {"unit": ["kent", "durham"]}}
    with_cache = run_batch([spec], tmp_path / "cached", progress=False, max_workers=1)
    assert list(with_cache.status) == ["ok", "ok"], with_cache.error.tolist()
    assert any((tmp_path / "cached" / ".cache").rglob("*.pkl"))
    plain = run_batch([{**spec, "batch": {"unit": ["durham"]}}], tmp_path / "plain",
                      progress=False, cache=False)
    assert list(plain.status) == ["ok"], plain.error.tolist()
    assert not (tmp_path / "plain" / ".cache").exists()
    # durham ran second in the cached batch: its whole-panel results were hits.
    hit = with_cache.set_index("unit").loc["durham"]
    assert hit.review_id == plain.review_id.iloc[0]
    assert _outputs(tmp_path / "cached" / hit.ipynb) == \
        _outputs(tmp_path / "plain" / plain.ipynb.iloc[0])
