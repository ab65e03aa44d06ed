"""The four comparators of the IPCC performance framework, for every unit in a period.

1. the most-similar group (pooled: sum of numerators / sum of denominators of the unit's peers);
2. the direction of travel: since the previous period, since the same period a year earlier, and
   the SPC signal of the unit's series up to the period;
3. the national average (all units pooled);
4. the target, if one applies (met / missed, or on / off track by a linear projection).

The significance tests are exact and vectorised (one call handles every unit; the results equal
scipy.stats.binomtest and scipy.stats.fisher_exact, two-sided):

* one unit against a group, proportion: exact binomial test of O out of n against the group's
  pooled proportion;
* one unit against a group, rate or ratio: the exact conditional (binomial) test for two Poisson
  rates - given O_unit + O_group events, O_unit ~ Binomial(O_unit + O_group, n_unit / (n_unit +
  n_group)) under equal rates. For the national comparator the group is every other unit, so the
  unit is not compared with itself;
* one period against another: Fisher's exact test (proportions) or the same conditional test
  (rates and ratios).

Counts are rounded to whole numbers for the exact tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError
from goodpractice.peers import peers as find_peers
from goodpractice.periods import PER_YEAR, from_index, to_index
from goodpractice.spc import last_signal

COLUMNS = [
    "unit", "indicator", "period", "numerator", "denominator", "value",
    "n_peers", "peers", "peer_value", "peer_p", "peer_verdict",
    "prev_period", "prev_value", "prev_p", "prev_verdict",
    "yoy_period", "yoy_value", "yoy_p", "yoy_verdict", "trend_verdict", "spc_signal",
    "national_value", "national_p", "national_verdict",
    "target_value", "target_period", "target_projection", "target_status",
]
_RERR = 1 + 1e-7  # scipy's relative tolerance for "as likely as the observed table"


# -- exact two-sided tests, vectorised ----------------------------------------------------------
def _minlike(k, lo, hi, mode, logpmf, cdf, sf, rerr: float = _RERR) -> np.ndarray:
    """Two-sided p-value summing every outcome no more likely than the observed one.

    For a unimodal discrete distribution on [lo, hi] with the given mode: the observed tail plus
    the opposite tail beyond the first point whose probability is <= P(k) (x (1 + 1e-7)).
    """
    k, lo, hi, mode = (np.asarray(a, dtype=float) for a in (k, lo, hi, mode))
    thresh = logpmf(k) + np.log(rerr)
    lower_side = k < mode
    # Opposite side search interval: [mode, hi] when k is low (pmf decreasing), else [lo, mode].
    a = np.where(lower_side, mode, lo)
    b = np.where(lower_side, hi, mode)
    # Bisection bounds one step outside the interval (virtual "false" / "true" ends).
    # Find, on the opposite side, the boundary of the region with pmf <= threshold.
    # Low k: smallest x in [mode, hi] with logpmf(x) <= thresh (x = hi + 1 if none).
    # High k: largest x in [lo, mode] with logpmf(x) <= thresh (x = lo - 1 if none).
    left, right = a - 1, b + 1
    for _ in range(64):
        if np.all(right - left <= 1):
            break
        mid = np.floor((left + right) / 2)
        below = logpmf(mid) <= thresh
        # Low side: predicate "pmf <= thresh" is false...true going right: keep right = first true.
        # High side: predicate is true...false going right: keep left = last true.
        left = np.where(lower_side, np.where(below, left, mid), np.where(below, mid, left))
        right = np.where(lower_side, np.where(below, mid, right), np.where(below, right, mid))
    p_low = cdf(k) + np.where(right <= hi, sf(right - 1), 0.0)
    p_high = sf(k - 1) + np.where(left >= lo, cdf(left), 0.0)
    p = np.where(lower_side, p_low, p_high)
    p = np.where(k == mode, 1.0, p)
    return np.clip(p, 0.0, 1.0)


def binom_test(k, n, p) -> np.ndarray:
    """Two-sided exact binomial test of k successes in n trials against probability p.

        >>> round(float(binom_test(7, 10, 0.5)[0]), 3)
        0.344
    """
    k, n, p = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, n, p)))
    k, n, p = np.atleast_1d(k), np.atleast_1d(n), np.atleast_1d(p)
    out = np.ones(k.shape)
    deg = (n == 0) | (p <= 0) | (p >= 1)
    # Degenerate cases: the observed count is either certain (p = 1) or impossible (p = 0).
    out[deg] = np.where(
        ((p[deg] <= 0) & (k[deg] > 0)) | ((p[deg] >= 1) & (k[deg] < n[deg])), 0.0, 1.0)
    ok = ~deg
    if ok.any():
        kk, nn, pp = k[ok], n[ok], p[ok]
        mean = pp * nn
        out[ok] = _minlike_binom(kk, nn, pp, mean)
    return out


def _minlike_binom(k, n, p, mean) -> np.ndarray:
    """scipy.stats.binomtest's two-sided search, vectorised.

    The binomial pmf and tails come straight from scipy.special (gammaln, bdtr, bdtrc): the
    same functions scipy.stats uses, without its per-call argument checking, which dominates
    for arrays of a few dozen units.
    """
    from scipy import special  # lazy: keeps `import goodpractice` light
    log_p, log_q = np.log(p), np.log1p(-p)
    lg_n = special.gammaln(n + 1)
    n_int = n.astype(np.int64)  # bdtr/bdtrc take a whole number of trials

    def logpmf(x):
        x = np.clip(x, 0, n)
        return lg_n - special.gammaln(x + 1) - special.gammaln(n - x + 1) + x * log_p \
            + (n - x) * log_q

    def cdf(x):  # P(X <= x)
        xc = np.clip(x, 0, n)
        return np.where(x < 0, 0.0, np.where(x >= n, 1.0, special.bdtr(xc, n_int, p)))

    def sf(x):  # P(X > x)
        xc = np.clip(x, 0, n)
        return np.where(x < 0, 1.0, np.where(x >= n, 0.0, special.bdtrc(xc, n_int, p)))

    # Opposite-side interval as scipy: [ceil(pn), n] for a low k, [0, floor(pn)] for a high k.
    mode = np.where(k < mean, np.ceil(mean), np.where(k > mean, np.floor(mean), k))
    return _minlike(k, np.zeros_like(n), n, mode, logpmf, cdf, sf)


def fisher_test(a, b, c, d) -> np.ndarray:
    """Two-sided Fisher exact test of the 2x2 tables [[a, b], [c, d]], vectorised."""
    from scipy import stats  # lazy: keeps `import goodpractice` light
    a, b, c, d = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (a, b, c, d)))
    a, b, c, d = (np.atleast_1d(x) for x in (a, b, c, d))
    n1, n2, col = a + b, c + d, a + c  # row totals and first-column total
    total = n1 + n2
    out = np.ones(a.shape)
    ok = (n1 > 0) & (n2 > 0) & (col > 0) & (col < total)
    if ok.any():
        aa, N, K, n = a[ok], total[ok], n1[ok], col[ok]

        def logpmf(x):
            return stats.hypergeom.logpmf(x, N, K, n)

        def cdf(x):
            return stats.hypergeom.cdf(x, N, K, n)

        def sf(x):
            return stats.hypergeom.sf(x, N, K, n)

        lo = np.maximum(0, n - (N - K))
        hi = np.minimum(n, K)
        mode = np.floor((n + 1) * (K + 1) / (N + 2))
        # Treat a table as likely as the mode as the centre (p = 1), as scipy does.
        at_mode = np.abs(logpmf(aa) - logpmf(mode)) <= 1e-14
        p = _minlike(aa, lo, hi, mode, logpmf, cdf, sf, rerr=1 + 1e-14)
        out[ok] = np.where(at_mode, 1.0, p)
    return out


def poisson_conditional_test(o1, n1, o2, n2) -> np.ndarray:
    """Exact conditional test of equal Poisson rates o1/n1 and o2/n2 (two-sided)."""
    o1, n1, o2, n2 = (np.asarray(x, dtype=float) for x in (o1, n1, o2, n2))
    return binom_test(o1, o1 + o2, n1 / (n1 + n2))


# -- helpers ---------------------------------------------------------------------------------
def _verdict(diff: np.ndarray, p: np.ndarray, alpha: float, higher_is_better: bool,
             labels: tuple[str, str, str], missing: str) -> np.ndarray:
    good = np.sign(diff) * (1 if higher_is_better else -1)
    sig = p < alpha
    return np.where(np.isnan(p) | np.isnan(diff), missing,
                    np.where(sig & (good > 0), labels[0],
                             np.where(sig & (good < 0), labels[1], labels[2])))


def _cube(outcomes: pd.DataFrame, indicators: list[str], units: list[str], periods: list[str]
          ) -> tuple[np.ndarray, np.ndarray]:
    """Numerators and denominators as indicator x unit x period arrays (NaN where missing)."""
    ii = pd.Index(indicators).get_indexer(outcomes["indicator"])
    ti = pd.Index(periods).get_indexer(outcomes["period"])
    ui = pd.Index(units).get_indexer(outcomes["unit"])
    keep = (ii >= 0) & (ti >= 0) & (ui >= 0)
    shape = (len(indicators), len(units), len(periods))
    num, den = np.full(shape, np.nan), np.full(shape, np.nan)
    num[ii[keep], ui[keep], ti[keep]] = outcomes["numerator"].to_numpy(dtype=float)[keep]
    den[ii[keep], ui[keep], ti[keep]] = outcomes["denominator"].to_numpy(dtype=float)[keep]
    return num, den


def _two_period(kind: str, o1, n1, o0, n0) -> np.ndarray:
    have = np.isfinite(o1) & np.isfinite(n1) & np.isfinite(o0) & np.isfinite(n0)
    p = np.full(o1.shape, np.nan)
    if have.any():
        a, b, c, d = np.round(o1[have]), n1[have], np.round(o0[have]), n0[have]
        if kind == "proportion":
            p[have] = fisher_test(a, np.round(b) - a, c, np.round(d) - c)
        else:
            p[have] = poisson_conditional_test(a, b, c, d)
    return p


def _group_test(kind: str, o, n, og, ng) -> np.ndarray:
    """The unit (o, n) against a group (og, ng) that does not contain it."""
    p = np.full(o.shape, np.nan)
    ok = np.isfinite(og) & (ng > 0) & np.isfinite(o) & np.isfinite(n)
    if ok.any():
        if kind == "proportion":
            p[ok] = binom_test(np.round(o[ok]), np.round(n[ok]), og[ok] / ng[ok])
        else:
            p[ok] = poisson_conditional_test(np.round(o[ok]), n[ok], np.round(og[ok]), ng[ok])
    return p


# -- targets ---------------------------------------------------------------------------------
def _pick(pool: pd.DataFrame, period: str) -> pd.Series | None:
    """The target that applies in `period`: the next one due, else the latest passed."""
    if pool.empty:
        return None
    labels = pool["period"].astype(str)
    upcoming = pool[labels >= period]
    if not upcoming.empty:
        return upcoming.loc[upcoming["period"].astype(str).idxmin()]
    return pool.loc[labels.idxmax()]


def _targets_by_unit(targets: pd.DataFrame | None, indicator: str, units: list[str],
                     period: str) -> list[pd.Series | None]:
    """Per unit, its own target if it has one, else the target for all units (unit empty)."""
    if targets is None or targets.empty:
        return [None] * len(units)
    t = targets[targets["indicator"] == indicator]
    if t.empty:
        return [None] * len(units)
    everyone = _pick(t[t["unit"].isna()], period)
    own = t[t["unit"].notna()]
    by_unit = {str(u): _pick(g, period) for u, g in own.groupby(own["unit"].astype(str))}
    return [by_unit.get(u, everyone) for u in units]


def _target_status(panel: Any, picks: list[pd.Series | None], units: list[str],
                   periods: list[str], rates: np.ndarray, pi: int) -> dict[str, list]:
    """target_value, target_period, target_projection, target_status per unit."""
    out: dict[str, list] = {"target_value": [], "target_period": [], "target_projection": [],
                            "target_status": []}
    freq = panel.frequency
    period = periods[pi]
    for ui, row in enumerate(picks):
        if row is None:
            for key, v in (("target_value", np.nan), ("target_period", None),
                           ("target_projection", np.nan), ("target_status", "no_target")):
                out[key].append(v)
            continue
        series = rates[ui, : pi + 1]
        base = row.get("baseline_period")
        base = None if base is None or pd.isna(base) else str(base)
        kind = row["kind"]
        if kind == "reduce_by_pct":
            if base not in periods or not np.isfinite(rates[ui, periods.index(base)]):
                out["target_value"].append(np.nan)
                out["target_period"].append(str(row["period"]))
                out["target_projection"].append(np.nan)
                out["target_status"].append("no_baseline")
                continue
            tv = rates[ui, periods.index(base)] * (1 - float(row["value"]) / 100)
            meets = np.less_equal
        else:
            tv = float(row["value"])
            meets = np.greater_equal if kind == "at_least" else np.less_equal
        tp = str(row["period"])
        if tp <= period:
            # A target whose period has passed is judged on the value in that period (as
            # targets() does): today's value says nothing about whether it was met.
            then = series[periods.index(tp)] if tp in periods else np.nan
            if not np.isfinite(then):
                out["target_value"].append(float(tv))
                out["target_period"].append(tp)
                out["target_projection"].append(np.nan)
                out["target_status"].append("no_data")
                continue
            status = "met" if meets(then, tv) else "missed"
            projection = then
        else:
            # Linear trend from the baseline period (or the whole series) to now.
            start = periods.index(base) if base in periods else 0
            x = np.array([to_index(p, freq) for p in periods[start : pi + 1]], dtype=float)
            y = series[start:]
            keep = np.isfinite(y)
            if keep.sum() >= 2:
                slope, icept = np.polyfit(x[keep], y[keep], 1)
                projection = float(icept + slope * to_index(tp, freq))
            else:
                projection = float(series[-1])
            status = "on_track" if meets(projection, tv) else "off_track"
        out["target_value"].append(float(tv))
        out["target_period"].append(tp)
        out["target_projection"].append(float(projection))
        out["target_status"].append(status)
    return out


# -- the comparison --------------------------------------------------------------------------
def compare(
    panel: Any,
    indicator: str | Sequence[str] | None = None,
    period: str | None = None,
    k: int = 7,
    alpha: float = 0.05,
    variables: Sequence[str] | None = None,
    peer_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The four comparators for every unit with an outcome in `period`.

    `indicator`: one name, a list, or None for every indicator. `period`: a period of the
    panel (default: the latest). Peers are :func:`goodpractice.peers.peers` with `k` and
    `variables` unless a `peer_table` (unit, peer, ...) is given. Tests are two-sided at `alpha`;
    "better" and "worse" follow the indicator's ``higher_is_better``.

    Columns (values on the indicator's scale, i.e. x multiplier):

    * unit, indicator, period, numerator, denominator, value;
    * n_peers (peers with data), peers (comma-separated), peer_value (pooled), peer_p,
      peer_verdict in {better, worse, similar, no_peers};
    * prev_period, prev_value, prev_p, prev_verdict; yoy_period (same period a year earlier),
      yoy_value, yoy_p, yoy_verdict - each verdict in {improving, deteriorating, no_change,
      no_data}; trend_verdict = yoy_verdict when there is year-earlier data, else prev_verdict;
    * spc_signal: the XmR variation of the last point of the unit's series up to `period`
      (improvement, concern, common), or insufficient_data (< 3 points) / no_variation;
    * national_value (all units pooled), national_p (unit against all other units),
      national_verdict in {better, worse, similar, no_data (no other unit has data)};
    * target_value (on the value scale; reduce_by_pct is applied to the unit's baseline-period
      value), target_period, target_projection (linear trend from the baseline period projected
      to the target period; the value in the target period once it is reached),
      target_status in {met, missed, on_track, off_track, no_baseline, no_target, no_data
      (the target period has passed without data for the unit)}.

    An indicator whose ``counts`` is false (its numerator is not a count of events, e.g. a
    harm-weighted score) gets no p-values: its peer, national and travel verdicts read
    ``not_tested`` wherever there is data to compare.

        >>> import goodpractice as gp  # doctest: +SKIP
        >>> gp.compare(gp.load_example("london"), "burglary", "2024-01")  # doctest: +SKIP
    """
    from scipy import sparse  # lazy: keeps `import goodpractice` light
    if not 0 < alpha < 1:
        raise GoodPracticeError(f"alpha must be between 0 and 1; got {alpha}")
    periods = list(panel.periods)
    if not periods:
        raise GoodPracticeError("the panel has no outcomes: nothing to compare")
    if period is None:
        period = periods[-1]
    period = str(period)
    if period not in periods:
        raise GoodPracticeError(
            f"period {period!r} is not in panel {panel.name!r} "
            f"(periods {periods[0]} to {periods[-1]})"
        )
    if indicator is None:
        indicators = list(panel.indicators["indicator"])
    elif isinstance(indicator, str):
        indicators = [indicator]
    else:
        indicators = list(indicator)
    defs = {name: panel.indicator(name) for name in indicators}
    units = sorted(panel.units["unit"].astype(str))
    if peer_table is None:
        peer_table = find_peers(panel, k=k, variables=variables)
    groups = {u: list(g) for u, g in peer_table.groupby("unit", sort=False)["peer"]}
    pos = {u: i for i, u in enumerate(units)}
    # Peer membership as a sparse 0/1 matrix: pooled peer sums are one product, at any size.
    ranked = [[pos[p] for p in groups.get(u, []) if p in pos] for u in units]
    rows = np.repeat(np.arange(len(units)), [len(r) for r in ranked])
    cols = np.fromiter((j for r in ranked for j in r), dtype=np.int64, count=len(rows))
    member = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                               shape=(len(units), len(units)))
    pi = periods.index(period)
    freq = panel.frequency
    prev_label = periods[pi - 1] if pi > 0 else None
    yoy_label = from_index(to_index(period, freq) - PER_YEAR[freq], freq)
    targets = getattr(panel, "targets", None)
    num, den = _cube(panel.outcomes, indicators, units, periods[: pi + 1])
    frames = [
        _compare_one(panel, name, defs[name], num[j], den[j], units, periods, pi, member, ranked,
                     prev_label, yoy_label, alpha, targets)
        for j, name in enumerate(indicators)
    ]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    out.attrs.update({"period": period, "k": k, "alpha": alpha,
                      "variables": peer_table.attrs.get("variables")})
    return out


def _compare_one(panel, name, d, num_all, den_all, units, periods, pi, member, ranked, prev_label,
                 yoy_label, alpha, targets) -> pd.DataFrame:
    from scipy import sparse  # lazy: keeps `import goodpractice` light
    kind, mult, hib = d["kind"], float(d["multiplier"]), bool(d["higher_is_better"])
    o, n = num_all[:, -1], den_all[:, -1]
    have = np.isfinite(o) & np.isfinite(n)
    if not have.any():
        return pd.DataFrame(columns=COLUMNS)
    rates = num_all / den_all * mult
    value = o / n * mult
    oz, nz = np.where(have, o, 0.0), np.where(have, n, 0.0)

    # (1) peers: pooled over the peers that have data this period.
    with_data = member @ sparse.diags(have.astype(float))
    og, ng = with_data @ oz, with_data @ nz
    n_peers = np.asarray(with_data.sum(axis=1)).ravel().astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        peer_value = np.where(ng > 0, og / ng * mult, np.nan)
    peer_p = _group_test(kind, o, n, np.where(ng > 0, og, np.nan), ng)
    peer_verdict = _verdict(value - peer_value, peer_p, alpha, hib,
                            ("better", "worse", "similar"), "no_peers")
    # Peers with data this period, in rank order (most similar first).
    peer_names = [", ".join(units[j] for j in idx if have[j]) for idx in ranked]

    # (3) national: the value pools every unit; the test sets the unit against all the others.
    to, tn = oz.sum(), nz.sum()
    national_value = to / tn * mult
    national_p = _group_test(kind, o, n, to - o, tn - n)
    # No other unit with data: nothing to test against, which is not the same as 'similar'.
    national_verdict = _verdict(value - national_value, national_p, alpha, hib,
                                ("better", "worse", "similar"), "no_data")

    # (2) direction of travel.
    def travel(label):
        if label is None or label not in periods[: pi + 1]:
            nanv = np.full(len(units), np.nan)
            return nanv, nanv, np.full(len(units), "no_data", dtype=object)
        j = periods.index(label)
        o0, n0 = num_all[:, j], den_all[:, j]
        p = _two_period(kind, o, n, o0, n0)
        v0 = o0 / n0 * mult
        verdict = _verdict(value - v0, p, alpha, hib,
                           ("improving", "deteriorating", "no_change"), "no_data")
        return v0, p, verdict

    prev_value, prev_p, prev_verdict = travel(prev_label)
    yoy_value, yoy_p, yoy_verdict = travel(yoy_label)
    if not bool(d.get("counts", True)):
        # The numerator is not a count of events (e.g. a harm-weighted score): exact count tests
        # would treat it as far more precise than it is, so nothing is tested and the verdicts
        # say so. Values are still shown; funnel / classify judge it with over-dispersion.
        def untested(verdict: np.ndarray) -> np.ndarray:
            has_data = ~np.isin(verdict, ("no_data", "no_peers"))
            return np.where(has_data, "not_tested", verdict).astype(object)

        peer_p = national_p = prev_p = yoy_p = np.full(len(units), np.nan)
        peer_verdict, national_verdict = untested(peer_verdict), untested(national_verdict)
        prev_verdict, yoy_verdict = untested(prev_verdict), untested(yoy_verdict)
    trend_verdict = np.where(yoy_verdict != "no_data", yoy_verdict, prev_verdict)
    improvement = "increase" if hib else "decrease"
    spc = []
    for i in range(len(units)):
        series = rates[i]
        # The unbroken run of data ending at this period: an XmR chart needs no gaps.
        gaps = np.flatnonzero(~np.isfinite(series))
        start = gaps[-1] + 1 if len(gaps) else 0
        spc.append(last_signal(series[start:], improvement) if have[i] else "no_data")

    picks = _targets_by_unit(targets, name, units, periods[pi])
    tgt = _target_status(panel, picks, units, periods[: pi + 1], rates, pi)
    out = pd.DataFrame({
        "unit": units, "indicator": name, "period": periods[pi], "numerator": o,
        "denominator": n, "value": value, "n_peers": n_peers, "peers": peer_names,
        "peer_value": peer_value, "peer_p": peer_p, "peer_verdict": peer_verdict,
        "prev_period": prev_label, "prev_value": prev_value, "prev_p": prev_p,
        "prev_verdict": prev_verdict, "yoy_period": yoy_label, "yoy_value": yoy_value,
        "yoy_p": yoy_p, "yoy_verdict": yoy_verdict, "trend_verdict": trend_verdict,
        "spc_signal": spc, "national_value": national_value, "national_p": national_p,
        "national_verdict": national_verdict, **tgt,
    })
    return out[have].reset_index(drop=True)[COLUMNS]
