"""Classification: every unit is `top`, `typical`, `coasting` or `poor`, per indicator and overall.

The monitoring regime of the source reports (Metropolitan Police Authority, 11 April 2002) asks
cluster commanders to "identify top performers, coaster and poor performers from performance data
using benchmarks", and every month challenges two coasting boroughs and one poor performer. The
rules here (DESIGN.md 4.7), each a documented parameter of :func:`classify`:

* **level** - judged over a rolling window of recent periods pooled (default 12 months, 4
  quarters, 1 year), so one noisy month does not make a verdict. Observed O and expected E counts
  are summed over the window; E comes from :func:`goodpractice.expected.expected` (resources and
  context, leave-one-out) on the pooled window. O/E goes into :func:`goodpractice.funnel.funnel`
  (kind ``ratio``) with additive over-dispersion; ``z`` is the funnel's z after over-dispersion, so
  |z| > 3.09 is exactly "beyond the 99.8% limit".
* **trend** - an XmR chart (:func:`goodpractice.spc.xmr`, NHS Making Data Count) of the unit's
  rate over the last `history` periods. The trend is the direction of the latest special-cause
  point within the recent span (the window, at least 3 periods): ``improving``,
  ``deteriorating`` (an SPC concern) or ``stable``.
* **top** - better than expected beyond the 99.8% limit and not deteriorating;
* **poor** - worse than expected beyond the 99.8% limit, or beyond 95% and worse than its peer
  group's median and deteriorating;
* **coasting** - not top or poor, not better than expected beyond 95%, no improvement signal,
  and resourced (total `measure` per 1,000 population over the window) at or above the median of
  its most similar peers. When the panel has no resource data for a unit (London), the default
  ``coasting_without_resources="results"`` judges coasting on results alone: the resource test
  is replaced by "no better than the peer median" (so coasting stays a minority, as when half the
  units are resourced above their peers' median), and the reason says so; ``"typical"`` makes such
  units typical instead;
* **typical** - the rest.

``alert`` marks beyond 95% but not 99.8% (either side): shown in the reason, not a verdict.

The overall row per unit (``indicator == '__overall__'``, :func:`classify_overall`): ``poor``
if poor on any indicator; else ``top`` if top on at least one indicator and on at least as many as
it coasts on; else ``coasting`` if coasting on at least half of the indicators judged; else
``typical``.

    >>> import goodpractice as gp
    >>> table = classify(gp.load_example("london"), indicator="burglary")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError
from goodpractice.funnel import Z95, Z998, funnel
from goodpractice.panel import Panel
from goodpractice.periods import shift
from goodpractice.spc import CLOSE, LIMIT, SCREEN, xmr

CATEGORIES = ("top", "typical", "coasting", "poor")
TRENDS = ("improving", "deteriorating", "stable")
OVERALL = "__overall__"
DEFAULT_WINDOW = {"monthly": 12, "quarterly": 4, "annual": 1}
PERIOD_WORD = {"monthly": "months", "quarterly": "quarters", "annual": "years"}

COLUMNS = [
    "unit", "indicator", "period", "category", "z", "value", "expected", "ratio",
    "lower_95", "upper_95", "lower_998", "upper_998", "flag", "alert",
    "peer_median", "peer_best_quartile", "trend", "trend_signals",
    "resource_intensity", "peer_resource_median", "observed", "expected_count", "denominator",
    "window_start", "periods_pooled", "data_flag", "reason",
]


# -- the vectorised XmR (the same statistic as spc.xmr, for thousands of series at once) ----------
def xmr_variation(values: np.ndarray, improvement: str | None) -> np.ndarray:
    """Per point variation code (+1 improvement, -1 concern, 0 common) for each row of a matrix.

    Exactly :func:`goodpractice.spc.xmr`'s ``variation`` for every row that has no missing value
    and a non-zero moving range (tests compare the two on thousands of random series); rows with
    a missing value or no variation come back as all zeros and are the caller's to handle.

        >>> int(xmr_variation(np.array([[5, 6, 5, 7, 6, 5, 6, 20.0]]), "increase")[0, -1])
        1
    """
    y = np.asarray(values, dtype=float)
    m, t = y.shape
    out = np.zeros((m, t), dtype=int)
    if t < 3 or m == 0:
        return out
    ok = np.isfinite(y).all(axis=1)
    y = np.where(ok[:, None], y, 0.0)
    mean = y.mean(axis=1, keepdims=True)
    mr = np.abs(np.diff(y, axis=1))
    amr = mr.mean(axis=1, keepdims=True)
    kept = mr < SCREEN * amr
    n_kept = kept.sum(axis=1, keepdims=True)
    amr = np.where(n_kept > 0, (mr * kept).sum(axis=1, keepdims=True) / np.maximum(n_kept, 1), amr)
    ok &= amr[:, 0] > 0
    lpl, upl = mean - LIMIT * amr, mean + LIMIT * amr
    outside = (y > upl) | (y < lpl)
    rtm = np.sign(y - mean).astype(int)
    close = ~outside & ((y < mean - CLOSE * amr) | (y > mean + CLOSE * amr))

    # 7-point trend: 6 strictly signed steps in a row, flagged at the 7th point, then back-filled.
    d = np.sign(np.diff(y, axis=1)).astype(int)
    up = np.zeros(m, int)
    down = np.zeros(m, int)
    trend7 = np.zeros((m, t), int)
    for j in range(t - 1):
        up = np.where(d[:, j] == 1, up + 1, 0)
        down = np.where(d[:, j] == -1, down + 1, 0)
        trend7[:, j + 1] = np.where(up >= 6, 1, np.where(down >= 6, -1, 0))
    trend = _backfill(trend7 != 0)

    # 7 points on one side of the mean.
    run = np.zeros(m, int)
    side7 = np.zeros((m, t), bool)
    for j in range(t):
        same = (rtm[:, j] != 0) & (rtm[:, j] == rtm[:, j - 1]) if j > 0 else np.zeros(m, bool)
        run = np.where(same, run + 1, np.where(rtm[:, j] != 0, 1, 0))
        side7[:, j] = run >= 7
    shift7 = _backfill(side7)

    # 2 of 3 close to the limits, all three on one side; only the close points are flagged.
    v = np.pad(close.astype(int), ((0, 0), (2, 2)))
    r = np.pad(rtm, ((0, 0), (2, 2)))
    win_ok = np.zeros((m, t + 2), bool)
    for w in range(t + 2):
        win_ok[:, w] = (v[:, w:w + 3].sum(axis=1) >= 2) & (np.abs(r[:, w:w + 3].sum(axis=1)) == 3)
    two3 = (win_ok[:, :t] | win_ok[:, 1:t + 1] | win_ok[:, 2:t + 2]) & close

    # A point inside a trend takes the direction of the step after it, the last one the step before.
    nxt = np.concatenate([trend[:, 1:], np.zeros((m, 1), bool)], axis=1)
    right = np.concatenate([d, d[:, -1:]], axis=1)
    left = np.concatenate([np.zeros((m, 1), int), d], axis=1)
    step = np.where(nxt & trend, right, left)
    side = np.where(rtm > 0, 1, -1)
    sign = np.select(
        [outside, trend, two3, shift7],
        [np.where(rtm == 1, 1, -1), np.where(step == 1, 1, -1), side, side],
        0,
    )
    direction = {"increase": 1, "decrease": -1, None: 0}[improvement]
    out = sign * direction
    out[~ok] = 0
    return out


def _backfill(flags: np.ndarray) -> np.ndarray:
    """A point belongs to a run of 7 if it or one of the next 6 points carries the flag."""
    m, t = flags.shape
    padded = np.concatenate([flags, np.zeros((m, 6), bool)], axis=1)
    out = np.zeros((m, t), bool)
    for j in range(7):
        out |= padded[:, j:j + t]
    return out


def _trend_codes(matrix: np.ndarray, improvement: str | None, span: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Trend (+1 improving, -1 deteriorating, 0 stable) and signal counts within the last `span`."""
    var = xmr_variation(matrix, improvement)
    # Series with gaps: the public xmr on the periods that exist (it needs an unbroken series).
    gaps = ~np.isfinite(matrix).all(axis=1)
    for i in np.flatnonzero(gaps):
        row = matrix[i]
        keep = np.isfinite(row)
        if keep.sum() < 3 or np.nanmax(row) == np.nanmin(row):
            continue
        try:
            chart = xmr(row[keep], improvement=improvement)
        except GoodPracticeError:
            continue
        codes = chart["variation"].map({"improvement": 1, "concern": -1}).fillna(0).astype(int)
        full = np.zeros(len(row), int)
        full[keep] = codes.to_numpy()
        var[i] = full
    recent = var[:, -span:]
    signalled = recent != 0
    has = signalled.any(axis=1)
    # The latest special-cause point decides the direction.
    last_idx = recent.shape[1] - 1 - np.argmax(signalled[:, ::-1], axis=1)
    latest = np.where(has, recent[np.arange(len(recent)), last_idx], 0)
    count = np.where(latest != 0, (recent == latest[:, None]).sum(axis=1), 0)
    return latest, count


# -- windows and pooling ------------------------------------------------------------------------
def _window_periods(panel: Panel, period: str, window: int) -> list[str]:
    freq = panel.frequency
    return [shift(period, freq, -j) for j in range(window - 1, -1, -1)]


def _check_window(panel: Panel, indicator: str, period: str, window: int) -> list[str]:
    rows = panel.outcomes[panel.outcomes["indicator"] == indicator]
    have = sorted(rows["period"].unique())
    if not have:
        raise GoodPracticeError(f"indicator {indicator!r} has no outcomes in panel {panel.name!r}")
    periods = _window_periods(panel, period, window)
    word = PERIOD_WORD.get(panel.frequency, "periods")
    if periods[0] < have[0]:
        available = sum(1 for p in have if p <= period)
        raise GoodPracticeError(
            f"window of {window} {word} ending {period} needs {indicator!r} from {periods[0]}, "
            f"but its series starts at {have[0]} ({available} {word} up to {period}); "
            f"pass window={max(available, 1)} or a later period"
        )
    if not set(periods) & set(have):
        raise GoodPracticeError(
            f"indicator {indicator!r} has no outcomes in the window {periods[0]}..{periods[-1]} "
            f"(its series runs {have[0]}..{have[-1]}); choose a period inside it"
        )
    return periods


def _pool(outcomes: pd.DataFrame, periods: list[str]) -> pd.DataFrame:
    rows = outcomes[outcomes["period"].isin(periods)].dropna(subset=["numerator", "denominator"])
    pooled = rows.groupby("unit", sort=True).agg(
        observed=("numerator", "sum"), denominator=("denominator", "sum"),
        periods_pooled=("period", "nunique"),
    )
    return pooled


def _pooled_panel(panel: Panel, indicator: str, period: str, periods: list[str],
                  pooled: pd.DataFrame) -> Panel:
    """One-period panel whose outcomes are the window's sums and resources / context its means.

    Built without re-validation: every value comes from the already validated panel.
    """
    outcomes = pd.DataFrame({
        "unit": pooled.index.to_numpy(), "period": period, "indicator": indicator,
        "numerator": pooled["observed"].to_numpy(), "denominator": pooled["denominator"].to_numpy(),
    })
    res = panel.resources
    if not res.empty:
        res = _resources_for(res, periods)
        res = (res.groupby(["unit", "element", "measure"], sort=True)["value"].mean()
               .reset_index().assign(period=period)
               [["unit", "period", "element", "measure", "value"]])
    ctx = panel.context
    if not ctx.empty:
        in_window = ctx[ctx["period"].isin(periods)]
        ctx = (in_window.groupby(["unit", "variable"], sort=True)["value"].mean().reset_index()
               .assign(period=period)[["unit", "period", "variable", "value"]])
    return replace(panel, outcomes=outcomes, resources=res, context=ctx,
                   targets=panel.targets.iloc[0:0])


def _resources_for(res: pd.DataFrame, periods: list[str]) -> pd.DataFrame:
    """Resource rows of the window; without any, those of the latest period before it."""
    inside = res[res["period"].isin(periods)]
    if not inside.empty:
        return inside
    before = res[res["period"] < periods[0]]
    if before.empty:
        return inside
    return before[before["period"] == before["period"].max()]


def _expected_counts(panel: Panel, indicator: str, period: str, periods: list[str],
                     pooled: pd.DataFrame, expected_from: str
                     ) -> tuple[pd.Series, str, pd.Series]:
    """Expected count per unit over the window, a note on how, and which units fell back to
    the all-unit average because the model could not predict them."""
    national = pooled["observed"].sum() / pooled["denominator"].sum()
    average = pooled["denominator"] * national
    missing_none = pd.Series(False, index=pooled.index)
    if expected_from == "average":
        return average, "the all-unit average", missing_none
    from goodpractice.expected import expected

    try:
        # expected() warns about units it cannot fit; the notes travel in the result's attrs.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = expected(_pooled_panel(panel, indicator, period, periods, pooled),
                             indicator, period)
    except GoodPracticeError as exc:
        return average, f"the all-unit average (no model could be fitted: {exc})", missing_none
    notes = "; ".join(str(w.message) for w in caught)
    e = table.set_index("unit")["expected"].reindex(pooled.index)
    missing = e.isna() | ~np.isfinite(e) | (e <= 0)
    if missing.all():
        return average, "the all-unit average (the model predicted no unit)", missing_none
    what = table["method"].iloc[0] if len(table) else "leave-one-out model"
    return e.where(~missing, average), what + (f" [{notes}]" if notes else ""), missing


# -- peers and resources ------------------------------------------------------------------------
def _peer_pairs(panel: Panel, k: int, units: list[str],
                table: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str]:
    from goodpractice.peers import peers

    if table is not None:
        missing = {"unit", "peer", "rank"} - set(table.columns)
        if missing:
            raise GoodPracticeError(
                f"peer_table lacks column(s) {', '.join(sorted(missing))}: pass what "
                "goodpractice.peers.peers returns (unit, peer, rank, distance)")
        pairs = table.loc[table["rank"] <= k, ["unit", "peer"]]
    else:
        try:
            pairs = peers(panel, k=k)[["unit", "peer"]]
        except GoodPracticeError as exc:
            # Without context to match on, every other unit is a peer.
            u = np.array(units, dtype=object)
            grid = pd.DataFrame({"unit": np.repeat(u, len(u)), "peer": np.tile(u, len(u))})
            return grid[grid["unit"] != grid["peer"]], f"all other units ({exc})"
    return pairs[pairs["unit"].isin(units)], f"its {k} most similar peers"


def _peer_stat(pairs: pd.DataFrame, values: pd.Series, q: float) -> pd.Series:
    v = pairs.assign(v=pairs["peer"].map(values)).dropna(subset=["v"])
    return v.groupby("unit")["v"].quantile(q)


def _intensity(panel: Panel, periods: list[str], measure: str | None,
               pooled: pd.DataFrame) -> tuple[pd.Series, str]:
    """Resource per 1,000 population over the window (sum of elements, mean of periods)."""
    res = panel.resources
    if res.empty:
        return pd.Series(np.nan, index=pooled.index), ""
    measures = sorted(res["measure"].unique())
    chosen = measure or ("fte" if "fte" in measures else measures[0])
    if chosen not in measures:
        raise GoodPracticeError(
            f"measure {chosen!r} is not in the panel's resources; known: {', '.join(measures)}"
        )
    rows = _resources_for(res[res["measure"] == chosen], periods)
    if rows.empty:
        return pd.Series(np.nan, index=pooled.index), chosen
    total = rows.groupby(["unit", "period"])["value"].sum().groupby("unit").mean()
    if "population" in panel.units.columns:
        pop = panel.units.set_index("unit")["population"]
        per = "1,000 population"
    else:
        pop = pooled["denominator"] / pooled["periods_pooled"]
        per = "1,000 of the indicator's denominator"
    label = "FTE" if chosen == "fte" else chosen.replace("_", " ")
    return (total / pop.reindex(total.index) * 1000).reindex(pooled.index), f"{label} per {per}"


# -- formatting -----------------------------------------------------------------------------------
def _fmt(value: float, multiplier: float, kind: str, label: str = "") -> str:
    """A rate as a committee reads it: 18.2%, or 0.443 per 1,000 (the unit left out when the
    indicator's label already says 'per ...')."""
    if not np.isfinite(value):
        return "n/a"
    if kind == "proportion" and multiplier == 100:
        return f"{value:.1f}%"
    if multiplier == 1 or " per " in f" {label.lower()} ":
        return f"{value:.3g}"
    return f"{value:.3g} per {multiplier:,.0f}"


def z_text(z: float) -> str:
    """z to one decimal, or two when one would cross a limit (3.08 is not "3.1, within 99.8%")."""
    one = round(abs(z), 1)
    near = any((one >= lim) != (abs(z) >= lim) for lim in (Z95, Z998))
    return f"{z:.2f}" if near else f"{z:.1f}"


def _level_phrase(flag: str, z: float) -> str:
    if flag in ("high_998", "low_998"):
        return f"z = {z_text(z)}, beyond the 99.8% limit after over-dispersion"
    if flag in ("high_95", "low_95"):
        return f"z = {z_text(z)}, beyond the 95% limit only: an alert, not a verdict"
    return f"z = {z_text(z)}, within the limits"


def _trend_phrase(trend: str, count: int, span: int, word: str) -> str:
    if trend == "stable":
        return f"no SPC signal in the last {span} {word}"
    kind = "improvement" if trend == "improving" else "concern"
    return f"{trend} (SPC {kind} in {count} of the last {span} {word})"


# -- one indicator --------------------------------------------------------------------------
def _classify_indicator(panel: Panel, indicator: str, period: str, window: int, k: int,
                        pairs: pd.DataFrame, peer_note: str, *, history: int | None,
                        overdispersion: str, trim: str, trim_by: float, measure: str | None,
                        coasting_without_resources: str,
                        expected_from: str) -> pd.DataFrame:
    spec = panel.indicator(indicator)
    hib = bool(spec["higher_is_better"])
    mult, kind, label = float(spec["multiplier"]), str(spec["kind"]), str(spec["label"])
    orient = 1.0 if hib else -1.0
    word = PERIOD_WORD.get(panel.frequency, "periods")
    periods = _check_window(panel, indicator, period, window)
    outcomes = panel.outcomes[panel.outcomes["indicator"] == indicator]
    units = panel.units["unit"].astype(str).tolist()

    pooled = _pool(outcomes, periods)
    pooled = pooled[pooled["denominator"] > 0]
    if len(pooled) < 3:
        raise GoodPracticeError(
            f"{indicator!r}: only {len(pooled)} units have outcomes in {periods[0]}..{periods[-1]};"
            " a funnel needs at least 3"
        )
    e_count, e_note, e_fallback = _expected_counts(panel, indicator, period, periods, pooled,
                                                   expected_from)
    fun = funnel(
        pd.DataFrame({"unit": pooled.index.to_numpy(), "observed": pooled["observed"].to_numpy(),
                      "expected": e_count.to_numpy()}),
        kind="ratio", overdispersion=overdispersion, trim=trim, trim_by=trim_by,
    ).set_index("unit")
    rate = pooled["observed"] / pooled["denominator"] * mult
    e_rate = e_count / pooled["denominator"] * mult

    # Trend: an XmR chart per unit over the last `history` periods of its own rate.
    hist = history or max(3 * window, 20 if panel.frequency != "annual" else 10)
    all_periods = sorted(p for p in outcomes["period"].unique() if p <= period)
    hist_periods = all_periods[-hist:]
    series = outcomes[outcomes["period"].isin(hist_periods)]
    matrix = (series.assign(r=series["numerator"] / series["denominator"])
              .pivot(index="unit", columns="period", values="r")
              .reindex(index=pooled.index, columns=hist_periods))
    span = min(max(window, 3), len(hist_periods))
    improvement = "increase" if hib else "decrease"
    codes, counts = _trend_codes(matrix.to_numpy(dtype=float), improvement, span)
    trend = np.select([codes > 0, codes < 0], ["improving", "deteriorating"], "stable")

    # Peers: median and better quartile of the peers' pooled rates; resources against the peers'.
    peer_median = _peer_stat(pairs, rate, 0.5).reindex(pooled.index)
    peer_best = _peer_stat(pairs, rate, 0.75 if hib else 0.25).reindex(pooled.index)
    intensity, intensity_label = _intensity(panel, periods, measure, pooled)
    peer_res = _peer_stat(pairs, intensity.dropna(), 0.5).reindex(pooled.index)

    z = fun["z"].to_numpy()
    zo = z * orient
    flag = fun["flag"].to_numpy()
    better_998 = flag == ("high_998" if hib else "low_998")
    worse_998 = flag == ("low_998" if hib else "high_998")
    better_95 = zo > Z95
    worse_95 = zo < -Z95
    worse_than_peers = ((rate - peer_median) * orient < 0).to_numpy()
    deteriorating, improving = trend == "deteriorating", trend == "improving"
    has_res = intensity.notna().to_numpy() & peer_res.notna().to_numpy()
    resourced = has_res & (intensity >= peer_res).to_numpy()
    if coasting_without_resources == "results":
        # No resource data: results stand in - at or worse than the peer median (so coasting stays
        # a minority, as it is when half the units are resourced above their peers' median).
        resourced |= ~has_res & ~((rate - peer_median) * orient > 0).to_numpy()
    top = better_998 & ~deteriorating
    poor = worse_998 | (worse_95 & worse_than_peers & deteriorating)
    coasting = ~top & ~poor & ~better_95 & ~improving & resourced
    category = np.select([top, poor, coasting], ["top", "poor", "coasting"], "typical")

    out = pd.DataFrame({
        "unit": pooled.index.to_numpy(), "indicator": indicator, "period": period,
        "category": category, "z": z, "value": rate.to_numpy(), "expected": e_rate.to_numpy(),
        "ratio": fun["value"].to_numpy(),
        "lower_95": fun["lower_95"].to_numpy() * e_rate.to_numpy(),
        "upper_95": fun["upper_95"].to_numpy() * e_rate.to_numpy(),
        "lower_998": fun["lower_998"].to_numpy() * e_rate.to_numpy(),
        "upper_998": fun["upper_998"].to_numpy() * e_rate.to_numpy(),
        "flag": flag, "alert": np.isin(flag, ["high_95", "low_95"]),
        "peer_median": peer_median.to_numpy(), "peer_best_quartile": peer_best.to_numpy(),
        "trend": trend, "trend_signals": counts,
        "resource_intensity": intensity.to_numpy(), "peer_resource_median": peer_res.to_numpy(),
        "observed": pooled["observed"].to_numpy(), "expected_count": e_count.to_numpy(),
        "denominator": pooled["denominator"].to_numpy(),
        "window_start": periods[0], "periods_pooled": pooled["periods_pooled"].to_numpy(),
    })
    out["data_flag"] = np.where(out["periods_pooled"] < len(periods), "partial_window", "complete")
    out["reason"] = _reasons(out, label, mult, kind, hib, len(periods), span, word, e_note,
                             peer_note, intensity_label, coasting_without_resources,
                             better_95, worse_than_peers, has_res, e_fallback.to_numpy())

    # Units with no outcome at all in the window: listed, flagged, not judged.
    missing = sorted(set(units) - set(out["unit"]))
    if missing:
        gap = pd.DataFrame({"unit": missing, "indicator": indicator, "period": period,
                            "category": "typical", "flag": "not_judged", "alert": False,
                            "trend": "stable", "trend_signals": 0, "window_start": periods[0],
                            "periods_pooled": 0, "data_flag": "no_outcomes"})
        gap["reason"] = (f"Not judged: no {label} outcomes recorded for "
                         f"{periods[0]}..{periods[-1]};"
                         " listed as typical only so every unit has a row - check the data")
        out = pd.concat([out, gap], ignore_index=True)
    out = out.reindex(columns=COLUMNS).sort_values("unit", kind="stable").reset_index(drop=True)
    out.attrs["expected_note"] = e_note
    return out


def _reasons(out: pd.DataFrame, label: str, mult: float, kind: str, hib: bool, n_window: int,
             span: int, word: str, e_note: str, peer_note: str, intensity_label: str,
             without: str, better_95: np.ndarray, worse_than_peers: np.ndarray,
             has_res: np.ndarray, fallback: np.ndarray) -> list[str]:
    reasons = []
    good, bad = ("higher", "lower") if hib else ("lower", "higher")
    for i, r in enumerate(out.itertuples(index=False)):
        level = (f"{label}: {_fmt(r.value, mult, kind, label)} vs "
                 f"{_fmt(r.expected, mult, kind, label)} expected ({_level_phrase(r.flag, r.z)})")
        trend = _trend_phrase(r.trend, int(r.trend_signals), span, word)
        peers = f"peer median {_fmt(r.peer_median, mult, kind, label)}"
        if r.category == "top":
            why = f"Top: {level}; {trend}."
        elif r.category == "poor":
            if r.flag in ("high_998", "low_998"):
                why = f"Poor: {level}; {trend}; {peers}."
            else:
                why = (f"Poor: {level}, {bad} than its peers ({peers}) and {trend}.")
        elif r.category == "coasting":
            if has_res[i]:
                res = (f"resourced at {r.resource_intensity:.3g} {intensity_label}, at or above "
                       f"the peer median of {r.peer_resource_median:.3g}")
            else:
                res = ("no resource data, so judged on results alone (documented proxy: "
                       "within the limits, not improving, and no better than the peer median)")
            why = f"Coasting: {level}; {trend}; {res}; {peers}."
        else:
            if r.flag in ("high_998", "low_998") and r.trend == "deteriorating":
                note = "better than expected but deteriorating, so not top"
            elif better_95[i]:
                note = f"{good} than expected at 95% only, so not a verdict"
            elif r.flag in ("high_95", "low_95") and worse_than_peers[i]:
                note = "worse than expected at 95% only and not deteriorating, so not poor"
            elif r.trend == "improving":
                note = "improving, so not coasting"
            elif has_res[i]:
                note = (f"resourced at {r.resource_intensity:.3g} {intensity_label}, below the "
                        f"peer median of {r.peer_resource_median:.3g}, so not coasting")
            elif without == "typical":
                note = "no resource data, so coasting cannot be judged"
            elif not worse_than_peers[i]:
                note = f"no resource data and {good} than the peer median, so not coasting"
            else:
                note = "no adverse or favourable signal"
            why = f"Typical: {level}; {trend}; {peers}; {note}."
        if r.periods_pooled < n_window:
            why += f" Pooled over {int(r.periods_pooled)} of {n_window} {word} (gaps in the data)."
        if fallback[i]:
            why += (" Expected is the all-unit average: the model could not predict this unit"
                    " (missing context or resources).")
        reasons.append(why)
    return reasons


# -- the public verbs -----------------------------------------------------------------------
def classify(
    panel: Panel,
    indicator: str | list[str] | None = None,
    period: str | None = None,
    window: int | None = None,
    k: int = 7,
    *,
    history: int | None = None,
    overdispersion: Literal["additive", "multiplicative"] = "additive",
    trim: Literal["winsorise", "truncate"] = "winsorise",
    trim_by: float = 0.05,
    measure: str | None = None,
    coasting_without_resources: Literal["results", "typical"] = "results",
    expected_from: Literal["model", "average"] = "model",
    overall: bool | None = None,
    peer_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Classify every unit as top, typical, coasting or poor, per indicator (and overall).

    Parameters (rules in the module docstring and docs/classification.md):

    - `indicator`: one name, a list, or None for every indicator with outcomes in the window;
    - `period`: the window's last period (default: the panel's latest outcome period);
    - `window`: periods pooled for the level (default 12 monthly, 4 quarterly, 1 annual);
    - `k`: most similar peers (:func:`goodpractice.peers.peers`);
    - `history`: periods on the SPC chart for the trend (default max(3 x window, 20), 10 annual);
    - `overdispersion`, `trim`, `trim_by`: the funnel's over-dispersion estimate. The default
      winsorises 5% each end, not the funnel's 10%: under a normal random effect 10% winsorising
      underestimates tau by about a quarter, and the simulation (docs/classification.md) then
      flags 1.5% of ordinary units instead of 0.4%;
    - `measure`: the resource measure for coasting
      (default ``fte``); `coasting_without_resources`: ``results`` waives the resource test for
      units without resource data (said in the reason), ``typical`` makes them typical;
    - `expected_from`: ``model`` (:func:`goodpractice.expected.expected`, falling back to the
      all-unit average with a note if no model can be fitted) or ``average``;
    - `overall`: add one ``'__overall__'`` row per unit (default: when more than one indicator);
    - `peer_table`: the peers, as :func:`goodpractice.peers.peers` returns them (its first `k`
      ranks are used); default ``peers(panel, k=k)``. Reviews in a batch pass the table they
      read from the batch's cache, so that classifying does not find the peers again, nor import
      scikit-learn for them (0.7 s in a kernel).

    Returns one row per unit and indicator: unit, indicator, period, category, z (funnel z after
    over-dispersion, positive = above expected), value and expected (rates x multiplier), ratio
    (O/E), lower_95 / upper_95 / lower_998 / upper_998 (limits on the rate scale), flag (the
    funnel's), alert (beyond 95% only), peer_median, peer_best_quartile (the peers' better
    quartile: upper if higher is better), trend, trend_signals, resource_intensity,
    peer_resource_median, observed, expected_count, denominator, window_start, periods_pooled,
    data_flag (``complete``, ``partial_window``, ``no_outcomes``), reason.

        >>> import goodpractice as gp
        >>> table = classify(gp.load_example("london"), period="2023-12")  # doctest: +SKIP
        >>> table.query("indicator == '__overall__'")["category"].value_counts()  # doctest: +SKIP
    """
    if panel.outcomes.empty:
        raise GoodPracticeError(f"panel {panel.name!r} has no outcomes to classify")
    if k < 1:
        raise GoodPracticeError(f"k must be at least 1 peer; got {k}")
    if coasting_without_resources not in ("results", "typical"):
        raise GoodPracticeError(
            "coasting_without_resources must be 'results' or 'typical'; "
            f"got {coasting_without_resources!r}"
        )
    if expected_from not in ("model", "average"):
        raise GoodPracticeError(
            f"expected_from must be 'model' or 'average'; got {expected_from!r}")
    if overdispersion not in ("additive", "multiplicative"):
        raise GoodPracticeError(
            f"overdispersion must be 'additive' or 'multiplicative'; got {overdispersion!r}"
        )
    freq = panel.frequency
    window = DEFAULT_WINDOW.get(freq, 1) if window is None else window
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise GoodPracticeError(f"window must be a whole number of periods >= 1; got {window!r}")
    if period is None:
        period = str(panel.outcomes["period"].max())
    else:
        have = pd.unique(panel.outcomes["period"])
        if period not in set(have):
            raise GoodPracticeError(
                f"period {period!r} has no outcomes in panel {panel.name!r} "
                f"(outcomes run {min(have)}..{max(have)})"
            )
    if history is not None and history < 3:
        raise GoodPracticeError(
            f"history must be at least 3 periods for an XmR chart; got {history}")

    named = indicator is not None
    if indicator is None:
        wanted = _window_periods(panel, period, window)
        present = panel.outcomes.loc[panel.outcomes["period"].isin(wanted), "indicator"]
        indicators = sorted(present.unique())
        if not indicators:
            raise GoodPracticeError(f"no indicator has outcomes in the window ending {period}")
    else:
        indicators = [indicator] if isinstance(indicator, str) else list(indicator)
        for ind in indicators:
            panel.indicator(ind)
    units = panel.units["unit"].astype(str).tolist()
    pairs, peer_note = _peer_pairs(panel, k, units, peer_table)

    frames, skipped, notes = [], [], {}
    for ind in indicators:
        try:
            frames.append(_classify_indicator(
                panel, ind, period, window, k, pairs, peer_note, history=history,
                overdispersion=overdispersion, trim=trim, trim_by=trim_by, measure=measure,
                coasting_without_resources=coasting_without_resources,
                expected_from=expected_from))
            notes[ind] = frames[-1].attrs.get("expected_note", "")
        except GoodPracticeError as exc:
            if named:
                raise
            # Without a named indicator, one whose series does not cover the window is skipped
            # (and said in attrs), not allowed to block the others.
            skipped.append(f"{ind}: {exc}")
    if not frames:
        raise GoodPracticeError(
            f"no indicator could be classified for the window ending {period}: "
            + "; ".join(skipped)
        )
    table = pd.concat(frames, ignore_index=True)
    if overall if overall is not None else len(indicators) > 1:
        table = pd.concat([table, classify_overall(table)], ignore_index=True)
    table.attrs.update({"period": period, "window": window, "peers": peer_note,
                        "skipped_indicators": skipped, "frequency": freq, "expected": notes})
    return table


def _listing(records: list[dict]) -> str:
    """'indicator (z = ...)' by |z| descending (unknown z last), then indicator."""
    ordered = sorted(records, key=lambda r: (not pd.notna(r["z"]),
                                             -abs(r["z"]) if pd.notna(r["z"]) else 0.0,
                                             r["indicator"]))
    return ", ".join(f"{r['indicator']} (z = {z_text(r['z'])})" for r in ordered)


def classify_overall(classification: pd.DataFrame) -> pd.DataFrame:
    """One ``'__overall__'`` row per unit from per-indicator rows of :func:`classify`.

    Rules: poor if poor on any indicator (z is the most adverse of them); else top if top on at
    least one indicator and on at least as many as it coasts on; else coasting if coasting on at
    least half of the indicators judged; else typical. Units not judged on any indicator
    (``data_flag == 'no_outcomes'``) get typical with a reason saying so.

        >>> overall = classify_overall(classify(panel))  # doctest: +SKIP
    """
    rows = classification[(classification["indicator"] != OVERALL)]
    rows = rows[rows["data_flag"] != "no_outcomes"]
    out = []
    period = classification["period"].iloc[0] if len(classification) else None
    all_units = sorted(classification["unit"].unique())
    # Plain records, not a frame per unit: pandas filtering cost about 4 ms a unit (140 s for
    # 35,000 units), the rules themselves microseconds.
    grouped: dict[Any, list[dict]] = {}
    fields = ["unit", "indicator", "period", "category", "z", "trend", "alert", "data_flag"]
    for r in rows[fields].to_dict("records"):
        grouped.setdefault(r["unit"], []).append(r)
    for unit in all_units:
        g = grouped.get(unit)
        if g is None:
            out.append({"unit": unit, "indicator": OVERALL, "period": period, "category": "typical",
                        "alert": False, "trend": "stable", "data_flag": "no_outcomes",
                        "reason": "Not judged: no outcomes on any indicator in the window."})
            continue
        n = len(g)
        by = {c: [r for r in g if r["category"] == c] for c in CATEGORIES}
        counts = {c: len(by[c]) for c in CATEGORIES}
        if counts["poor"]:
            category, driver = "poor", by["poor"]
        elif counts["top"] and counts["top"] >= counts["coasting"]:
            category, driver = "top", by["top"]
        elif counts["coasting"] * 2 >= n:
            category, driver = "coasting", by["coasting"]
        else:
            category, driver = "typical", g
        judged = [r for r in driver if pd.notna(r["z"])]
        worst = max(judged, key=lambda r: abs(r["z"])) if judged else None  # first of equals
        summary = "; ".join(f"{c} on {counts[c]}" for c in CATEGORIES if counts[c])
        detail = ""
        for c in ("poor", "top", "coasting"):
            if counts[c]:
                detail += f" {c.capitalize()}: {_listing(by[c])}."
        improving = sum(r["trend"] == "improving" for r in g)
        deteriorating = sum(r["trend"] == "deteriorating" for r in g)
        trend = ("improving" if improving > deteriorating else
                 "deteriorating" if deteriorating > improving else "stable")
        out.append({
            "unit": unit, "indicator": OVERALL, "period": g[0]["period"],
            "category": category, "z": worst["z"] if worst is not None else np.nan,
            "alert": any(pd.notna(r["alert"]) and bool(r["alert"]) for r in g), "trend": trend,
            "trend_signals": improving if trend == "improving" else deteriorating,
            "data_flag": "complete" if all(r["data_flag"] == "complete" for r in g)
            else "partial_window",
            "reason": f"{category.capitalize()} overall across {n} indicators ({summary}).{detail}",
        })
    return pd.DataFrame(out).reindex(columns=COLUMNS)
