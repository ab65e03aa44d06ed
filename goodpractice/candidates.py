"""Candidate findings: "what works" hypotheses for an inspector to test (DESIGN.md 4.12).

For each unit classified `top` on an indicator, its resource profile is set against its most
similar peers': per-capita intensity (resource per 1,000 population) and share of all resource,
per Policing Model element. An element becomes a candidate practice when the unit is clearly above
its peers' median on it (intensity at least `margin` above the median AND a larger share than the
peers' median share) and the cross-unit association of that element with the indicator is
favourable with a 95% CI that excludes zero (:func:`goodpractice.investment.link_investment`;
favourable = positive elasticity when higher is better, negative when lower is better).

A candidate is a question, never a conclusion: the text says so, the rating is ``limited`` and
the method "cross-unit comparison, observational". A visit or a pilot with a comparison group can
raise the rating later (the knowledge base keeps practices that did not work as ``did_not_work``).

    >>> import goodpractice as gp
    >>> forces = gp.load_example("forces")  # doctest: +SKIP
    >>> practices, evidence = candidate_findings(forces, "2016-17")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from goodpractice.classify import OVERALL, PERIOD_WORD, _fmt, _resources_for, _window_periods
from goodpractice.classify import classify as run_classify
from goodpractice.errors import GoodPracticeError
from goodpractice.panel import Panel

# Exactly the knowledge base's practice fields (goodpractice.knowledge.PRACTICE_FIELDS), so a
# review records them as they are: the period lives on the evidence rows, and `rating_method`
# says how the `limited` rating was earned.
PRACTICE_COLUMNS = [
    "id", "title", "summary", "element", "unit", "indicator", "status", "source",
    "evidence_rating", "rating_method", "tags",
]
EVIDENCE_COLUMNS = ["practice_id", "indicator", "period", "estimate", "ci_low", "ci_high", "method"]
# link_investment flags under which an elasticity is not a usable number at all.
UNUSABLE = {"no_variation", "not_identified", "collinear"}
METHOD = "cross-unit comparison, observational"


def _empty(reason: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    practices = pd.DataFrame(columns=PRACTICE_COLUMNS)
    evidence = pd.DataFrame(columns=EVIDENCE_COLUMNS)
    practices.attrs["note"] = evidence.attrs["note"] = reason
    return practices, evidence


def practice_id(unit: str, element: str, indicator: str) -> str:
    """The stable text key of a candidate: re-running a review upserts, never duplicates.

        >>> practice_id("durham", "investigations", "charge_rate")
        'review:durham:investigations:charge_rate'
    """
    parts = (unit, element, indicator)
    clean = [re.sub(r"[^a-z0-9_]+", "_", str(s).lower()).strip("_") for s in parts]
    return "review:" + ":".join(clean)


def resource_profile(panel: Panel, periods: list[str], measure: str) -> pd.DataFrame:
    """Per unit and element over the window: intensity (per 1,000 population) and share of all.

    Columns unit, element, intensity, share (mean over the periods with data; the latest earlier
    period when the window has none).
    """
    res = panel.resources
    res = _resources_for(res[res["measure"] == measure], periods)
    if res.empty:
        return pd.DataFrame(columns=["unit", "element", "intensity", "share"])
    by = res.groupby(["unit", "element"])["value"].mean().rename("value").reset_index()
    by["share"] = by["value"] / by.groupby("unit")["value"].transform("sum")
    if "population" in panel.units.columns:
        pop = panel.units.set_index("unit")["population"]
        by["intensity"] = by["value"] / by["unit"].map(pop) * 1000
    else:
        by["intensity"] = np.nan
    return by[["unit", "element", "intensity", "share"]]


def candidate_findings(
    panel: Panel,
    period: str,
    indicator: str | list[str] | None = None,
    classification: pd.DataFrame | None = None,
    *,
    measure: str = "fte",
    k: int = 7,
    margin: float = 0.10,
    **classify_kwargs,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidate practices and their evidence for the units classified top in `period`.

    Returns ``(practices, evidence)``. practices: id (stable key from unit, element, indicator),
    title, summary (Markdown), element, unit, indicator, status ``candidate``, source
    ``review``, evidence_rating ``limited``, rating_method ``cross-unit comparison,
    observational``, tags - exactly the knowledge base's practice fields (the period is on the
    evidence rows). evidence: practice_id, indicator, period, estimate, ci_low, ci_high, method -
    two rows per practice: the unit's O/E with its exact Poisson 95% CI, and the element's
    elasticity with its cluster-robust 95% CI. Both frames are empty (with these columns, and ``attrs['note']``
    saying why) when nothing qualifies, e.g. a panel without resources (London).

        >>> import goodpractice as gp
        >>> forces = gp.load_example("forces")  # doctest: +SKIP
        >>> practices, evidence = candidate_findings(forces, "2016-17")  # doctest: +SKIP
    """
    if margin < 0:
        raise GoodPracticeError(
            f"margin must be >= 0 (0.10 = 10% above the peer median); got {margin}"
        )
    if panel.resources.empty:
        return _empty(f"panel {panel.name!r} has no resource data: candidate findings compare "
                      "resource profiles, so there are none (supply a resources.csv)")
    if measure not in set(panel.resources["measure"]):
        raise GoodPracticeError(
            f"measure {measure!r} is not in the panel's resources; known: "
            f"{', '.join(sorted(panel.resources['measure'].unique()))}"
        )
    if classification is None:
        classification = run_classify(panel, indicator=indicator, period=period, k=k,
                                      overall=False, **classify_kwargs)
    rows = classification[(classification["indicator"] != OVERALL)
                          & (classification["category"] == "top")]
    if indicator is not None:
        wanted = [indicator] if isinstance(indicator, str) else list(indicator)
        rows = rows[rows["indicator"].isin(wanted)]
    if rows.empty:
        return _empty(f"no unit is classified top in {period}")
    # The window from the rows themselves (attrs do not survive filtering a classification).
    have = rows["window_start"].dropna()
    start = str(have.min()) if len(have) else period
    periods = _window_periods(panel, period, 1)
    while periods[0] > start:
        periods = _window_periods(panel, period, len(periods) + 1)
    window = len(periods)
    profile = resource_profile(panel, periods, measure)
    if profile.empty:
        return _empty(f"no {measure} resources in or before {periods[0]}..{periods[-1]}")
    from goodpractice.peers import peers

    # Each top unit's profile and its peers' median profile, found by one group-by each rather
    # than by filtering the whole profile per unit (quadratic: 57 s at 35,000 units).
    tops = set(rows["unit"])
    pairs = peers(panel, k=k)[["unit", "peer"]]
    pairs = pairs[pairs["unit"].isin(tops)]
    n_peers = pairs.groupby("unit").size()
    own_profiles = {u: g.set_index("element")
                    for u, g in profile[profile["unit"].isin(tops)].groupby("unit", sort=False)}
    peer_rows = pairs.merge(profile.rename(columns={"unit": "peer"}), on="peer")
    medians = peer_rows.groupby(["unit", "element"])[["intensity", "share"]].median()
    peer_medians = {u: g.droplevel(0) for u, g in medians.groupby(level=0, sort=False)}
    no_profile = profile.iloc[:0].set_index("element")
    no_median = pd.DataFrame(columns=["intensity", "share"], dtype=float)
    names = panel.units.set_index("unit")["name"].astype(str)
    labels = panel.elements.set_index("element")["label"].astype(str)
    word = PERIOD_WORD.get(panel.frequency, "periods")
    span = (f"the {window} {word} to {period}" if window > 1 else f"{period}")
    unit_word = "FTE" if measure == "fte" else measure.replace("_", " ")

    practices, evidence = [], []
    for ind, group in rows.groupby("indicator", sort=True):
        spec = panel.indicator(ind)
        hib, mult = bool(spec["higher_is_better"]), float(spec["multiplier"])
        kind = str(spec["kind"])
        label = str(spec["label"])
        from goodpractice.investment import link_investment

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = link_investment(panel, ind, measure=measure)
        except GoodPracticeError:
            continue  # no estimable association for this indicator: no candidate can rest on it
        tidy = result.tidy().set_index("element")
        design = getattr(result, "design", "")
        for r in group.sort_values("unit").itertuples(index=False):
            mine = own_profiles.get(r.unit, no_profile)
            med = peer_medians.get(r.unit, no_median)
            for element in sorted(mine.index):
                if element not in med.index or element not in tidy.index:
                    continue
                e = tidy.loc[element]
                if e["flag"] in UNUSABLE or not np.isfinite(e["ci_low"]):
                    continue
                favourable = e["ci_low"] > 0 if hib else e["ci_high"] < 0
                own, peer = mine.loc[element], med.loc[element]
                above = (own["intensity"] >= (1 + margin) * peer["intensity"]
                         and own["share"] > peer["share"]) if np.isfinite(own["intensity"]) else (
                    own["share"] >= (1 + margin) * peer["share"])
                if not (favourable and above):
                    continue
                pid = practice_id(r.unit, element, ind)
                name, el_label = names.get(r.unit, r.unit), labels.get(element, element)
                short = re.split(r"\s+per\s+|\s*\(", label)[0].strip()
                title = (f"{name}: above-peer investment in {el_label} alongside "
                         f"{'an' if short[:1].lower() in 'aeiou' else 'a'} {short.lower()} "
                         f"{r.ratio:.2f}x expected")
                lo, hi = _poisson_ci(r.observed, r.expected_count)
                caveat = ("" if e["flag"] == "ok" else
                          f" The estimate carries the caveat '{e['flag']}': {e.get('reason', '')}.")
                summary = (
                    "**Candidate finding: a question for an inspector to test on a visit, "
                    "not a conclusion.**\n\n"
                    f"{name} was classified *top* on {label} over {span}: "
                    f"{_fmt(r.value, mult, kind, label)} against "
                    f"{_fmt(r.expected, mult, kind, label)} "
                    f"expected from its resources and context (O/E {r.ratio:.2f}, 95% CI {lo:.2f} "
                    f"to {hi:.2f}; z = {r.z:.1f}).\n\n"
                    f"It puts {own['intensity']:.3g} {unit_word} per 1,000 population into "
                    f"{el_label}, "
                    f"against a median of {peer['intensity']:.3g} among its {n_peers.get(r.unit, 0)} most "
                    f"similar peers, and {own['share']:.0%} of its {unit_word} against their "
                    f"{peer['share']:.0%}.\n\n"
                    f"Across units, more {el_label} resource goes with "
                    f"{'higher' if hib else 'lower'} {short.lower()}: elasticity "
                    f"{e['elasticity']:.2f} (95% CI {e['ci_low']:.2f} to {e['ci_high']:.2f}; "
                    f"{design or 'cluster-robust by unit'}).{caveat}\n\n"
                    f"This is an observational comparison between units: something else that "
                    f"differs between {name} and its peers may explain both. To test on a visit: "
                    f"what {name} does with its {el_label} resource, and whether that practice - "
                    f"not its resourcing or its context - produces the result."
                )
                practices.append({
                    "id": pid, "title": title, "summary": summary, "element": element,
                    "unit": r.unit, "indicator": ind, "status": "candidate",
                    "source": "review", "evidence_rating": "limited", "rating_method": METHOD,
                    "tags": f"{element}, {ind}, candidate",
                })
                evidence.append({
                    "practice_id": pid, "indicator": ind, "period": period, "estimate": r.ratio,
                    "ci_low": lo, "ci_high": hi,
                    "method": f"O/E over {span}, expected from resources and "
                              "context (leave-one-out); exact Poisson 95% CI (sampling error only)",
                })
                evidence.append({
                    "practice_id": pid, "indicator": ind, "period": period,
                    "estimate": float(e["elasticity"]), "ci_low": float(e["ci_low"]),
                    "ci_high": float(e["ci_high"]),
                    "method": f"elasticity of {label} with respect to {el_label} {unit_word} per "
                              f"1,000 population; {design or 'panel regression'}; cluster-robust "
                              "95% CI by unit",
                })
    if not practices:
        return _empty(f"no top unit in {period} is clearly above its peers on an element with a "
                      "favourable association (95% CI excluding zero)")
    return (pd.DataFrame(practices, columns=PRACTICE_COLUMNS),
            pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS))


def _poisson_ci(observed: float, expected: float, level: float = 0.95) -> tuple[float, float]:
    """Exact Poisson CI of O divided by E (the chi-square form FunnelPlotR uses)."""
    from scipy import stats  # lazy: keeps `import goodpractice` light
    tail = (1 - level) / 2
    lo = stats.chi2.ppf(tail, 2 * observed) / 2 / expected if observed > 0 else 0.0
    hi = stats.chi2.ppf(1 - tail, 2 * (observed + 1)) / 2 / expected
    return float(lo), float(hi)
