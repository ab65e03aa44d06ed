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

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from goodpractice.classify import OVERALL, _fmt, classify, z_text
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
        # Rounded so that equal severities reached by different float sums (a mean gap of
        # 0.1, 0.2, 0.3 in another order) tie, and the tie breaks by unit id as documented.
        pool["order"] = pool["severity"].round(9).fillna(-np.inf)
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
            measure = (f"|z| = {z_text(r.severity)}" if category == "poor" else
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
    *,
    classifier: Callable[..., pd.DataFrame] | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Run :func:`select_for_challenge` period after period, carrying the rotation history.

    `history` seeds the record (earlier rounds); each round's selections join it before the next.
    `classifier` (default :func:`classify`) makes each round's classification, called as
    ``classifier(panel, indicator=indicator, period=period, overall=indicator is None,
    **classify_kwargs)``; pass ``goodpractice.cache.cached(classify)`` so that the overlapping
    rounds of a batch of monthly reviews (each looks back `rotation` months) classify each month
    once. Returns all selections (the columns of select_for_challenge), in period order.

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
              else pd.DataFrame({"period": pd.Series(dtype=object),
                                 "unit": pd.Series(dtype=object)}))
    frames = []
    indicator = kwargs.pop("indicator", None)
    if "classification" in kwargs:
        raise GoodPracticeError(
            "challenge_rounds classifies each round itself; pass classifier= to control how")
    make = classifier or classify
    for period in periods:
        table = make(panel, indicator=indicator, period=period, overall=indicator is None,
                     **kwargs)
        chosen = select_for_challenge(panel, period, n_coasting, n_poor, rotation, record,
                                      indicator=indicator, classification=table)
        frames.append(chosen)
        record = pd.concat([record, chosen[["period", "unit"]]], ignore_index=True)
    return pd.concat(frames, ignore_index=True)


# -- exceptions -----------------------------------------------------------------------------
EXCEPTION_COLUMNS = [
    "unit", "indicator", "period", "comparator", "severity", "p", "n_adverse", "value",
    "comparators", "reason",
]


def _z_of(p: np.ndarray) -> np.ndarray:
    """Two-sided p-value as a z-equivalent (p is floored at 1e-300, so z tops out near 37)."""
    from scipy import stats

    with np.errstate(divide="ignore"):
        z = stats.norm.isf(np.clip(np.asarray(p, dtype=float), 1e-300, 1.0) / 2)
    return z


def exceptions(
    panel: Panel,
    period: str,
    indicators: str | list[str] | None = None,
    *,
    alpha: float = 0.05,
    k: int = 7,
    comparison: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every unit x indicator with an adverse significant comparator, most severe first.

    From :func:`goodpractice.compare.compare` (the four comparators of the IPCC framework): adverse
    means significantly worse than its peers (``peer``), than all other units (``national``), than
    the previous period (``previous``) or the same period a year earlier (``year_on_year``), an SPC
    concern at the latest point (``spc``), or a target missed / off track (``target``).

    Severity is the largest z-equivalent (two-sided) of the adverse tested comparators' p-values;
    SPC and target comparators, which have none, count 0 but still raise an exception. Sorted by
    severity, then the number of adverse comparators, then unit and indicator.

    Returns unit, indicator, period, comparator (the most severe one), severity, p (its p-value),
    n_adverse, value, comparators (all adverse ones, described), reason.

        >>> import goodpractice as gp
        >>> exceptions(gp.load_example("london"), "2023-12")  # doctest: +SKIP
    """
    from goodpractice.compare import compare

    table = comparison if comparison is not None else compare(
        panel, indicator=indicators, period=period, k=k, alpha=alpha)
    if table.empty:
        return pd.DataFrame(columns=EXCEPTION_COLUMNS)
    labels = panel.indicators.set_index("indicator")
    tests = [
        ("peer", "peer_verdict", "worse", "peer_p", "peer_value", "its peers"),
        ("national", "national_verdict", "worse", "national_p", "national_value", "all units"),
        ("year_on_year", "yoy_verdict", "deteriorating", "yoy_p", "yoy_value", "a year earlier"),
        ("previous", "prev_verdict", "deteriorating", "prev_p", "prev_value",
         "the previous period"),
    ]
    specs = {name: (float(spec["multiplier"]), str(spec["kind"]), str(spec["label"]))
             for name, spec in labels.iterrows()}
    # z-equivalents of whole p columns at once, not one scipy call per row (0.1 ms each)
    z_of = {pcol: _z_of(table[pcol].to_numpy(dtype=float))
            for _, col, _, pcol, _, _ in tests if col in table.columns}
    rows = []
    for i, r in enumerate(table.to_dict("records")):
        mult, kind, label = specs[r["indicator"]]
        value = _fmt(r["value"], mult, kind, label)
        found = []  # (comparator, z, p, description)
        for name, col, bad, pcol, vcol, what in tests:
            if r.get(col) == bad:
                p = float(r[pcol])
                other = _fmt(r[vcol], mult, kind, label)
                word = "worse than" if name in ("peer", "national") else "deteriorated since"
                found.append((name, float(z_of[pcol][i]), p,
                              f"{name}: {word} {what} ({value} vs {other}, p = {p:.2g})"))
        if r.get("spc_signal") == "concern":
            found.append(("spc", 0.0, float("nan"), "spc: SPC concern at the latest point"))
        if r.get("target_status") in ("missed", "off_track"):
            status = "missed" if r["target_status"] == "missed" else "off track"
            text = (f"target: {status} ({value}; target "
                    f"{_fmt(r['target_value'], mult, kind, label)} by {r['target_period']}, "
                    f"projected {_fmt(r['target_projection'], mult, kind, label)})")
            found.append(("target", 0.0, float("nan"), text))
        if not found:
            continue
        found.sort(key=lambda f: (-f[1], f[0]))
        top = found[0]
        rows.append({
            "unit": r["unit"], "indicator": r["indicator"], "period": r["period"],
            "comparator": top[0], "severity": top[1], "p": top[2], "n_adverse": len(found),
            "value": r["value"], "comparators": "; ".join(f[3] for f in found),
            "reason": f"{label}: {value}, adverse on {len(found)} comparator"
                      f"{'s' if len(found) > 1 else ''} - " + "; ".join(f[3] for f in found) + ".",
        })
    out = pd.DataFrame(rows, columns=EXCEPTION_COLUMNS)
    if out.empty:
        return out
    return out.sort_values(["severity", "n_adverse", "unit", "indicator"],
                           ascending=[False, False, True, True],
                           kind="stable").reset_index(drop=True)
