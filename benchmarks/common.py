"""Timing and reporting shared by the benchmarks: medians of repeated runs, peak memory, JSON records."""

from __future__ import annotations

import json
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def measure(fn: Callable[[], Any], repeat: int = 5, memory: bool = True) -> dict[str, float]:
    """Median wall time of `repeat` runs (after one warm-up), and the peak traced memory of one run."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    peak = float("nan")
    if memory:
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {"median_s": statistics.median(times), "min_s": min(times), "peak_mib": peak,
            "runs": repeat}


def report(name: str, rows: list[dict[str, Any]], notes: str = "") -> None:
    """Print rows as a table and write them to benchmarks/results/<name>.json."""
    if rows:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
        print(f"\n== {name} ==")
        print("  ".join(c.ljust(widths[c]) for c in columns))
        for row in rows:
            print("  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))
    if notes:
        print(notes)
    RESULTS.mkdir(exist_ok=True)
    record = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "machine": platform.platform(), "python": platform.python_version(),
              "rows": rows, "notes": notes}
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2, default=str))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
