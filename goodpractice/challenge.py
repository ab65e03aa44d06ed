"""The monthly challenge and the exception report (DESIGN.md 4.8; the 2002 monitoring regime).

"2 'coasting' boroughs scrutinised against processes and challenged by DAC 'TP' & Commander
Crime, per month. 1 poor performing borough scrutinised against processes and challenged by AC TP"
(Metropolitan Police Authority, report 6 of 11 April 2002). Performance committees read exception
reports.

* :func:`select_for_challenge` - one period's selection: poor units by severity (|z|, for the
  overall verdict the largest |z| among the indicators it is poor on), coasting units by the gap
  to the better quartile of their peers (relative: 0.20 = 20% behind; overall, the mean over the
  indicators it coasts on). A unit challenged in the last `rotation` periods is skipped unless it
  is the worst of its category; ties break by unit id; the result is deterministic.
* :func:`challenge_rounds` - month after month, carrying the rotation history.
* :func:`exceptions` - every unit x indicator with an adverse significant comparator.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from goodpractice.classify import OVERALL, classify
from goodpractice.errors import GoodPracticeError
from goodpractice.panel import Panel
from goodpractice.periods import to_index

CHALLENGE_COLUMNS = [
    "period", "unit", "category", "rank", "severity", "severity_measure", "indicator",
    "candidates", "skipped_units", "reason",
]


def _severities(classification: pd.DataFrame, panel: Panel, indicator: str | None
                ) -> pd.DataFrame:
    """Candidates (poor and coasting) with their severity, from a classify() table."""
    per = classification[classification["indicator"] != OVERALL]
    hib = panel.indicators.set_index("indicator")["higher_is_better"].astype(bool)
    orient = per["indicator"].map(hib).map({True: 1.0, False: -1.0})
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = orient * (per["peer_best_quartile"] - per["value"]) / per["peer_best_quartile"].abs()
    per = per.assign(gap=gap.replace([np.inf, -np.inf], np.nan), abs_z=per["z"].abs())
    if indicator is not None:
        if indicator not in set(per["indicator"]):
            raise GoodPracticeError(
                f"indicator {indicator!r} is not in the classification; classify it first"
            )
        verdict = per[per["indicator"] == indicator]
        poor = verdict[verdict["category"] == "poor"].assign(severity=lambda d: d["abs_z"])
        coast = verdict[verdict["category"] == "coasting"].assign(severity=lambda d: d["gap"])
    else:
        verdict = classification[classification["indicator"] == OVERALL]
        if verdict.empty:
            raise GoodPracticeError(
                "the classification has no '__overall__' rows: classify with overall=True, "
                "or pass indicator= to select on one indicator"
            )
        poor_units = set(verdict.loc[verdict["category"] == "poor", "unit"])
        coast_units = set(verdict.loc[verdict["category"] == "coasting", "unit"])
        p = per[per["unit"].isin(poor_units) & (per["category"] == "poor")]
        c = per[per["unit"].isin(coast_units) & (per["category"] == "coasting")]
        poor = verdict[verdict["unit"].isin(poor_units)].assign(
            severity=lambda d: d["unit"].map(p.groupby("unit")["abs_z"].max()))
        coast = verdict[verdict["unit"].isin(coast_units)].assign(
            severity=lambda d: d["unit"].map(c.groupby("unit")["gap"].mean()))
    poor = poor.assign(severity_measure="|z|")
    coast = coast.assign(severity_measure="gap to peers' better quartile")
    return pd.concat([poor, coast], ignore_index=True)


def _recent(history: pd.DataFrame | None, period: str, rotation: int, frequency: str
            ) -> dict[str, str]:
    """Units challenged in the `rotation` periods before `period`: unit -> latest such period."""
    if history is None or history.empty or rotation <= 0:
        return {}
    missing = {"period", "unit"} - set(history.columns)
    if missing:
        raise GoodPracticeError(
            f"history needs columns 'period' and 'unit' (a challenge_rounds() table); "
            f"missing {', '.join(sorted(missing))}"
        )
    now = to_index(period, frequency)
    idx = history["period"].astype(str).map(lambda p: to_index(p, frequency))
    recent = history[(idx >= now - rotation) & (idx < now)]
    return recent.groupby("unit")["period"].max().astype(str).to_dict()


def select_for_challenge(
    panel: Panel,
    period: str,
    n_coasting: int = 2,
    n_poor: int = 1,
    rotation: int = 2,
    history: pd.DataFrame | None = None,
    *,
    indicator: str | None = None,
    classification: pd.DataFrame | None = None,
    **classify_kwargs,
) -> pd.DataFrame:
    """The units to challenge this period: `n_poor` poor performers and `n_coasting` coasting units.

    Ranked by severity (poor: |z|; coasting: relative gap to the better quartile of the peers),
    ties by unit id. A unit in `history` (columns period, unit) within the `rotation` periods
    before `period` is skipped unless it is the worst of its category. Verdicts are the overall
    ones unless `indicator` is given; pass `classification` (a :func:`classify` table for the
    period) to reuse one, otherwise `classify_kwargs` go to classify.

    Returns columns period, unit, category, rank (1 = most severe selected), severity,
    severity_measure, indicator, candidates (units in that category), skipped_units (those passed
    over for rotation, with when they were last challenged), reason.

        >>> import goodpractice as gp
        >>> select_for_challenge(gp.load_example("london"), "2023-06")  # doctest: +SKIP
    """
    for name, value in (("n_coasting", n_coasting), ("n_poor", n_poor), ("rotation", rotation)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise GoodPracticeError(f"{name} must be a whole number >= 0; got {value!r}")
    if classification is None:
        classification = classify(panel, indicator=indicator, period=period,
                                  overall=indicator is None, **classify_kwargs)
    elif "period" in classification and (classification["period"] != period).any():
        raise GoodPracticeError(
            f"the classification given is for {sorted(classification['period'].unique())}, "
            f"not {period}"
        )
    candidates = _severities(classification, panel, indicator)
    recent = _recent(history, period, rotation, panel.frequency)
    rows = []
    for category, wanted in (("poor", n_poor), ("coasting", n_coasting)):
        pool = candidates[candidates["category"] == category].copy()
        pool["order"] = pool["severity"].fillna(-np.inf)
        pool = pool.sort_values(["order", "unit"], ascending=[False, True], kind="stable")
        chosen, skipped = [], []
        for position, r in enumerate(pool.itertuples(index=False)):
            if len(chosen) >= wanted:
                break
            if r.unit in recent and position > 0:
                skipped.append(f"{r.unit} (challenged {recent[r.unit]})")
                continue
            chosen.append((r, position == 0 and r.unit in recent))
        for rank, (r, repeat) in enumerate(chosen, start=1):
            measure = (f"|z| = {r.severity:.1f}" if category == "poor" else
                       f"{r.severity:.0%} behind the better quartile of its peers"
                       if np.isfinite(r.severity) else "gap to peers not measurable")
            lead = (f"Challenge {category} #{rank} of {len(pool)} {category} units ({measure})"
                    + (", again: the worst of its category although challenged "
                       f"{recent[r.unit]}" if repeat else "") + ". ")
            rows.append({
                "period": period, "unit": r.unit, "category": category, "rank": rank,
                "severity": r.severity, "severity_measure": r.severity_measure,
                "indicator": indicator or OVERALL, "candidates": len(pool),
                "skipped_units": "; ".join(skipped), "reason": lead + str(r.reason),
            })
    return pd.DataFrame(rows, columns=CHALLENGE_COLUMNS)


def challenge_rounds(
    panel: Panel,
    periods: Iterable[str],
    n_coasting: int = 2,
    n_poor: int = 1,
    rotation: int = 2,
    history: pd.DataFrame | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Run :func:`select_for_challenge` period after period, carrying the rotation history.

    `history` seeds the record (earlier rounds); each round's selections join it before the next.
    Returns all selections (the columns of select_for_challenge), in period order.

        >>> import goodpractice as gp
        >>> months = [f"2023-{m:02d}" for m in range(1, 13)]
        >>> challenge_rounds(gp.load_example("london"), months)  # doctest: +SKIP
    """
    periods = list(periods)
    if not periods:
        raise GoodPracticeError("challenge_rounds needs at least one period")
    ordered = sorted(periods, key=lambda p: to_index(p, panel.frequency))
    if ordered != periods:
        raise GoodPracticeError(f"periods must be in time order; got {periods}")
    record = (history[["period", "unit"]].copy() if history is not None
              else pd.DataFrame({"period": pd.Series(dtype=object), "unit": pd.Series(dtype=object)}))
    frames = []
    for period in periods:
        chosen = select_for_challenge(panel, period, n_coasting, n_poor, rotation, record, **kwargs)
        frames.append(chosen)
        record = pd.concat([record, chosen[["period", "unit"]]], ignore_index=True)
    return pd.concat(frames, ignore_index=True)
