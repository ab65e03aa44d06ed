"""classify at scale (43 to 35,000 units x 60 months), and the simulation's precision and recall.

Target (DESIGN 4.7, issue 4): 35,000 units x 60 periods in under 10 s on 2 cores, growing
linearly (10x units -> at most 11x time). Panels come from goodpractice.simulate (validation
skipped: the frames are valid by construction); only classify is timed.
"""

from __future__ import annotations

import resource
import sys
import time

from benchmarks.common import measure, report
from goodpractice.classify import classify
from goodpractice.simulate import Scenario, evaluate, simulate_panel

SIZES = (43, 300, 3_000, 3_500, 35_000)
PERIODS = 60


def timing_rows(sizes=SIZES) -> list[dict]:
    rows = []
    for n in sizes:
        sim = simulate_panel(Scenario(n_units=n, n_periods=PERIODS), seed=0, validate=False)

        def run(sim=sim):
            return classify(sim.panel, indicator="outcome", period=sim.period, overall=False)

        # Memory under tracemalloc slows a run several-fold; trace it where that stays cheap.
        stats = measure(run, repeat=3 if n >= 35_000 else 5, memory=n <= 3_500)
        rows.append({"what": "classify, 1 indicator, window 12", "units": n, "periods": PERIODS,
                     "outcome_rows": n * PERIODS, **stats})
    base = {r["units"]: r["median_s"] for r in rows}
    for r in rows:
        if r["units"] == 35_000 and 3_500 in base:
            r["vs_3500_x"] = r["median_s"] / base[3_500]
        if r["units"] == 3_000 and 300 in base:
            r["vs_300_x"] = r["median_s"] / base[300]
    return rows


def simulation_rows(seeds=range(10)) -> list[dict]:
    table = evaluate(Scenario(), seeds=seeds)
    oracle_f1 = float(table.loc[table["method"] == "oracle", "f1"].iloc[0])
    rows = []
    for r in table.itertuples():
        rows.append({"method": r.method, "precision": r.precision, "recall": r.recall,
                     "f1": r.f1, "f1_vs_oracle": r.f1 / oracle_f1,
                     "null_flag_rate": r.null_flag_rate, "flagged": r.flagged,
                     "planted": r.planted, "seeds": r.seeds})
    return rows


def main() -> None:
    start = time.perf_counter()
    rows = timing_rows()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    big = next(r for r in rows if r["units"] == 35_000)
    notes = (f"35,000 x {PERIODS}: {big['median_s']:.2f} s (target < 10 s); 10x units "
             f"(3,500 -> 35,000): {big.get('vs_3500_x', float('nan')):.2f}x time (target <= 11x); "
             f"process peak RSS {peak_rss:.0f} MiB")
    report("classify", rows, notes)
    sim = simulation_rows()
    report("classify_simulation", sim,
           "Default scenario (400 units, tau 0.10, 3% planted each way at 4 tau), 10 seeds, "
           "counts pooled over seeds.")
    print(f"(bench_classify: {time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
