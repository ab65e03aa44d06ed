"""The whole-panel analyses a review batch shares, at 3,500 and 35,000 units: time and growth.

A unit review, a challenge round and an exception report all start from the same whole-panel
results (goodpractice.cache): every unit's targets, its classification on several indicators
with an overall verdict, the candidate findings of the top units, the exception report. Each of
them once looped over units with pandas filtering inside the loop, which is quadratic in the
number of units and went unnoticed at 43 forces (`candidate_findings` took 57 s at 35,000 units,
`classify_overall` about 4 ms a unit, `targets` 2.6 ms a unit and target). This benchmark keeps
them linear: 10x the units may cost at most 11x the time (the target `classify` has in issue 4).

Panels come from goodpractice.simulate (36 months, resources on every element) with two more
indicators drawn around the first, so that `classify` gives an overall row; validation is
skipped there but included in the "build the panel" row, which is shown for context and has no
growth target (validation sorts the rows: n log n). 35,000 units run once each, after the
3,500-unit runs have imported everything.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.common import report
from goodpractice.candidates import candidate_findings
from goodpractice.challenge import exceptions
from goodpractice.classify import classify
from goodpractice.panel import from_frames
from goodpractice.simulate import Scenario, simulate_panel
from goodpractice.targets import make_targets, targets

PERIODS = 36
SIZES = (3_500, 35_000)
INDICATORS = ["outcome", "outcome_b", "outcome_c"]
BUILD = "build the panel (validated)"


def national_panel(n_units: int):
    """A validated panel of `n_units` with three indicators and a target on two of them."""
    sim = simulate_panel(Scenario(n_units=n_units, n_periods=PERIODS), seed=0, validate=False)
    base = sim.panel
    rng = np.random.default_rng(1)
    outcomes, indicators = [base.outcomes], [base.indicators]
    for name in INDICATORS[1:]:
        extra = base.outcomes.assign(indicator=name)
        extra["numerator"] = np.minimum(extra["denominator"],
                                        rng.poisson(extra["numerator"].to_numpy()))
        outcomes.append(extra)
        indicators.append(base.indicators.assign(indicator=name))
    plan = make_targets([{"indicator": i, "period": sim.period, "kind": "at_least", "value": 20}
                         for i in INDICATORS[:2]])
    panel = from_frames(units=base.units, outcomes=pd.concat(outcomes, ignore_index=True),
                        indicators=pd.concat(indicators, ignore_index=True),
                        resources=base.resources, targets=plan, frequency="monthly",
                        name=f"national-{n_units}")
    return panel, sim.period


def _timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _steps(panel, period: str) -> dict:
    classification = classify(panel, INDICATORS, period, k=7)
    return {
        BUILD: None,
        "targets, 2 targets x every unit": lambda: targets(panel, period),
        "classify, 3 indicators + overall": lambda: classify(panel, INDICATORS, period, k=7),
        "candidate_findings, 3 indicators": lambda: candidate_findings(
            panel, period, INDICATORS, classification=classification, k=7),
        "exceptions": lambda: exceptions(panel, period),
    }


def main() -> None:
    start_all = time.perf_counter()
    rows, by_size = [], {}
    for n in SIZES:
        repeat = 1 if n >= 35_000 else 3
        start = time.perf_counter()
        panel, period = national_panel(n)
        built = time.perf_counter() - start
        for what, fn in _steps(panel, period).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds = built if fn is None else _timed(fn, repeat)
            by_size[(what, n)] = seconds
            rows.append({"what": what, "units": n, "periods": PERIODS, "median_s": seconds,
                         "runs": 1 if fn is None else repeat})
    worst = 0.0
    for r in rows:
        if r["units"] == SIZES[-1]:
            r["vs_3500_x"] = r["median_s"] / by_size[(r["what"], SIZES[0])]
            if r["what"] == BUILD:
                continue  # context, not a shared analysis: validation sorts (n log n)
            worst = max(worst, r["vs_3500_x"])
            r["target"] = "<= 11x"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report("national", rows, notes=f"10x units (3,500 -> 35,000): the shared analyses at most "
                                   f"{worst:.2f}x time (target <= 11x); process peak RSS "
                                   f"{peak:.0f} MiB")
    print(f"(bench_national: {time.perf_counter() - start_all:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
