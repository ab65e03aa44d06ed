"""Benchmark: the four comparators on the London example, and peers + funnel + compare at scale.

Run: ``python benchmarks/bench_compare.py`` (prints a table, writes benchmarks/results/compare.json).

Targets (DESIGN / issue 3): every London comparator (all boroughs x indicators, one period) well
under a second; peers + funnel for 35,000 synthetic units under 3 s on 2 cores. The exact tests are
vectorised; the comparison row shows the same tests through scipy.stats.binomtest one at a time.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import goodpractice as gp
from benchmarks.common import measure
from goodpractice.compare import binom_test, compare
from goodpractice.funnel import funnel
from goodpractice.panel import Panel
from goodpractice.peers import peers

RESULTS = Path(__file__).parent / "results" / "compare.json"
SIZES = (43, 300, 3_000, 35_000)
CONTEXT = ["population", "area_km2", "density", "imd_score", "pct_bame", "calls_per_1000"]


def timed(fn, repeat: int = 5) -> tuple[float, float]:
    """Median wall time of `repeat` runs (after one warm-up) and peak traced memory in MB."""
    stats = measure(fn, repeat=repeat)
    return stats["median_s"], stats["peak_mib"] * 2**20 / 1e6


def synthetic_units(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pop = rng.lognormal(12.5, 0.6, n).round()
    area = rng.lognormal(5, 1, n)
    return pd.DataFrame({
        "unit": [f"u{i:06d}" for i in range(n)], "name": [f"Unit {i}" for i in range(n)],
        "level": "synthetic", "parent": "", "population": pop, "area_km2": area,
        "density": pop / area, "imd_score": rng.uniform(5, 45, n),
        "pct_bame": rng.uniform(1, 60, n), "calls_per_1000": rng.uniform(50, 300, n),
    })


def synthetic_panel(n: int, months: int = 24, seed: int = 0) -> Panel:
    """A monthly panel with one rate indicator, built directly (validation is not timed here)."""
    rng = np.random.default_rng(seed)
    units = synthetic_units(n, seed)
    periods = [f"{2022 + m // 12}-{m % 12 + 1:02d}" for m in range(months)]
    pop = np.repeat(units["population"].to_numpy(), months)
    rate = np.repeat(rng.gamma(20, 0.00005, n), months)
    outcomes = pd.DataFrame({
        "unit": np.repeat(units["unit"].to_numpy(), months),
        "period": np.tile(periods, n), "indicator": "burglary",
        "numerator": rng.poisson(pop * rate).astype(float), "denominator": pop,
    })
    indicators = pd.DataFrame({"indicator": ["burglary"], "label": ["Burglary"],
                               "kind": ["rate"], "higher_is_better": [False],
                               "multiplier": [1000.0]})
    empty = pd.DataFrame(columns=["unit", "period", "element", "measure", "value"])
    targets = pd.DataFrame(columns=["indicator", "unit", "period", "kind", "value",
                                    "baseline_period", "source"])
    context = pd.DataFrame(columns=["unit", "period", "variable", "value"])
    return Panel(units=units, outcomes=outcomes, indicators=indicators, resources=empty,
                 targets=targets, context=context, policing_model={}, frequency="monthly",
                 name=f"synthetic_{n}")


def funnel_input(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    den = rng.integers(200, 20_000, n)
    p = np.clip(rng.normal(0.25, 0.04, n), 0.01, 0.99)
    return pd.DataFrame({"unit": [f"u{i:06d}" for i in range(n)],
                         "numerator": rng.binomial(den, p), "denominator": den})


def main() -> list[dict]:
    rows: list[dict] = []

    def record(what, size, seconds, peak, target=None, comparison=None, comparison_s=None):
        rows.append({
            "what": what, "size": size, "median_s": round(seconds, 4),
            "peak_mb": round(peak, 1), "target_s": target,
            "ratio_to_target": None if target is None else round(seconds / target, 3),
            "comparison": comparison,
            "comparison_s": None if comparison_s is None else round(comparison_s, 4),
            "speedup": None if comparison_s is None else round(comparison_s / seconds, 1),
        })

    london = gp.load_example("london")
    n_ind = len(london.indicators)
    s, m = timed(lambda: compare(london, None, "2024-01"))
    record(f"compare london 2024-01, all {n_ind} indicators", f"32 x {n_ind}", s, m, 1.0)
    s, m = timed(lambda: compare(london, "crime_burglary", "2024-01"))
    record("compare london 2024-01, burglary", "32", s, m, 1.0)
    forces = gp.load_example("forces")
    s, m = timed(lambda: compare(forces, None, "2017-18"))
    record(f"compare forces 2017-18, all {len(forces.indicators)} indicators",
           f"43 x {len(forces.indicators)}", s, m, 1.0)

    # The exact tests: vectorised against scipy one call at a time.
    rng = np.random.default_rng(1)
    n = rng.integers(1_000, 300_000, 3_000)
    p = rng.uniform(0.05, 0.5, 3_000)
    k = rng.binomial(n, p * rng.uniform(0.9, 1.1, 3_000))
    vec, m = timed(lambda: binom_test(k, n, p), repeat=3)
    t = time.perf_counter()
    for a, b, c in zip(k, n, p, strict=True):
        stats.binomtest(int(a), int(b), float(c))
    loop = time.perf_counter() - t
    record("exact binomial tests (vectorised)", "3000", vec, m, None,
           "scipy.stats.binomtest loop", loop)

    for size in SIZES:
        units = synthetic_units(size)
        data = funnel_input(size)
        sp, mp = timed(lambda u=units: peers(u, k=7, variables=CONTEXT), repeat=3)
        record("peers k=7, 6 variables", size, sp, mp)
        sf, mf = timed(lambda d=data: funnel(d, kind="proportion"), repeat=3)
        record("funnel proportion, additive", size, sf, mf)
        both, mb = timed(lambda u=units, d=data: (peers(u, k=7, variables=CONTEXT),
                                                 funnel(d, kind="proportion")), repeat=3)
        record("peers + funnel", size, both, mb, 3.0 if size == 35_000 else None)
        panel = synthetic_panel(size)
        sc, mc = timed(lambda pn=panel: compare(pn, "burglary", "2023-12",
                                                variables=CONTEXT), repeat=3 if size < 35_000 else 1)
        record("compare 1 indicator, 24 months", size, sc, mc)

    header = f"{'what':48} {'size':>9} {'median s':>9} {'peak MB':>8} {'target':>7} " \
             f"{'ratio':>6} {'vs':>28} {'its s':>7} {'x':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['what']:48} {r['size']!s:>9} {r['median_s']:9.4f} {r['peak_mb']:8.1f} "
              f"{r['target_s'] if r['target_s'] is not None else '':>7} "
              f"{r['ratio_to_target'] if r['ratio_to_target'] is not None else '':>6} "
              f"{r['comparison'] or '':>28} {r['comparison_s'] or '':>7} {r['speedup'] or '':>6}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "compare", "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
