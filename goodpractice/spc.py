"""Statistical process control: XmR (individuals) charts with NHS "Making Data Count" rules.

The rules and their precedence follow NHSRplotthedots (NHS-R Community), the R implementation
of NHS England's "Making Data Count":

* centre = mean of the baseline points (the first `baseline` points, or all);
  mR_i = |x_i - x_(i-1)| over the baseline; with `screen_outliers`, moving ranges
  >= 3.267 mR_bar are dropped and mR_bar recomputed once;
* process limits = mean +- 2.66 mR_bar; "close to the limits" = beyond mean +- (2/3) 2.66 mR_bar
  (two sigma) but inside the limits;
* special causes, in precedence: a point outside the limits (strictly); a run of 7 strictly
  increasing or decreasing points (all points of the run flagged); 2 of 3 consecutive points close
  to the limits, all three on the same side of the mean (only the close points flagged); 7 points
  in a row on the same side of the mean (a point on the mean breaks the run; all points flagged);
* each special cause is an improvement or a concern given the direction of improvement, or
  neutral (high / low) without one;
* assurance against a target: consistently pass / fail when the target lies outside the process
  limits, inconsistent when inside.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from goodpractice.errors import GoodPracticeError

LIMIT = 2.66
CLOSE = 2 * LIMIT / 3
SCREEN = 3.267

RULE_LABELS = {
    "above_ucl": 1, "below_lcl": -1, "trend_increasing": 1, "trend_decreasing": -1,
    "two_in_three_above": 1, "two_in_three_below": -1, "shift_above": 1, "shift_below": -1,
}

COLUMNS = [
    "period", "value", "mean", "lpl", "upl", "mr", "relative_to_mean", "close_to_limits",
    "outside_limits", "rule", "point_type", "variation", "target", "assurance",
]


# -- the rules (each a small function so it can be checked against the reference vectors) -------
def seven_point_one_side_mean(rtm: np.ndarray) -> np.ndarray:
    """1 at the 7th and later consecutive point with the same non-zero sign (before back-fill)."""
    r = np.concatenate([np.zeros(6), np.asarray(rtm, dtype=float)])
    w = sliding_window_view(r, 7)
    return ((w == w[:, -1:]).all(axis=1) & (w[:, -1] != 0)).astype(float)


def part_of_seven(flags: np.ndarray) -> np.ndarray:
    """Back-fill: a point belongs to a run if it or one of the next 6 points carries +-1."""
    f = (np.abs(np.asarray(flags, dtype=float)) == 1).astype(float)
    return sliding_window_view(np.concatenate([f, np.zeros(6)]), 7).max(axis=1)


def seven_point_trend(y: np.ndarray) -> np.ndarray:
    """+1 / -1 at the 7th point of 7 strictly increasing / decreasing values (ties break it)."""
    y = np.asarray(y, dtype=float)
    out = np.zeros(len(y))
    if len(y) < 7:
        return out
    w = sliding_window_view(np.sign(np.diff(y)), 6)
    out[6:] = np.where((w == 1).all(axis=1), 1.0, np.where((w == -1).all(axis=1), -1.0, 0.0))
    return out


def two_in_three(close: np.ndarray, rtm: np.ndarray) -> np.ndarray:
    """1 where a 3-point window containing the point has >= 2 close points, all on one side."""
    n = len(close)
    if n == 0:
        return np.zeros(0)
    v = np.concatenate([[0, 0], np.asarray(close, dtype=float), [0, 0]])
    r = np.concatenate([[0, 0], np.asarray(rtm, dtype=float), [0, 0]])
    ok = ((sliding_window_view(v, 3).sum(axis=1) >= 2)
          & (np.abs(sliding_window_view(r, 3).sum(axis=1)) == 3))
    return (ok[:n] | ok[1 : n + 1] | ok[2 : n + 2]).astype(float)


def part_of_two_in_three(flags: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Only the close-to-limit points of a 2-in-3 window are flagged."""
    return ((np.asarray(flags) == 1) & (np.abs(np.asarray(close, dtype=float)) == 1)).astype(float)


def special_cause(y, rtm, close, outside) -> np.ndarray:
    """The rule that marks each point (snake_case label) or '' for common cause, by precedence."""
    y = np.asarray(y, dtype=float)
    rtm = np.asarray(rtm)
    outside = np.asarray(outside, dtype=bool)
    trend = part_of_seven(seven_point_trend(y))
    two3 = part_of_two_in_three(two_in_three(close, rtm), close)
    shift = part_of_seven(seven_point_one_side_mean(rtm))
    n = len(y)
    sdy = np.sign(np.diff(y))
    # Inside a trend a point takes the direction of the step after it; the last, the step before.
    nxt = np.concatenate([trend[1:], [0.0]])
    right = np.concatenate([sdy, sdy[-1:]]) if n > 1 else np.zeros(n)
    left = np.concatenate([[0.0], sdy])
    step = np.where((nxt != 0) & (trend != 0), right, left)
    above = rtm > 0
    return np.select(
        [outside & (rtm == 1), outside, (trend != 0) & (step == 1), trend != 0,
         (two3 != 0) & above, two3 != 0, (shift != 0) & above, shift != 0],
        ["above_ucl", "below_lcl", "trend_increasing", "trend_decreasing",
         "two_in_three_above", "two_in_three_below", "shift_above", "shift_below"],
        "",
    ).astype(object)


# -- the chart --------------------------------------------------------------------------------
def _values(values) -> tuple[np.ndarray, list]:
    if isinstance(values, pd.Series):
        labels = list(values.index)
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        arr = np.asarray(pd.to_numeric(pd.Series(list(values)), errors="coerce"), dtype=float)
        labels = list(range(1, len(arr) + 1))
    return arr, labels


def xmr_limits(values: np.ndarray, baseline: int | None = None, screen_outliers: bool = True
               ) -> tuple[float, float, np.ndarray]:
    """Centre line, mR_bar (after screening) and the moving ranges of a series."""
    y = np.asarray(values, dtype=float)
    base = y[: baseline] if baseline else y
    mean = float(base.mean())
    mr_base = np.abs(np.diff(base))
    amr = float(mr_base.mean())
    if screen_outliers:
        kept = mr_base[mr_base < SCREEN * amr]
        amr = float(kept.mean()) if len(kept) else amr
    mr = np.concatenate([[np.nan], np.abs(np.diff(y))])
    return mean, amr, mr


def xmr(
    values,
    improvement: Literal["increase", "decrease"] | None = None,
    baseline: int | None = None,
    screen_outliers: bool = True,
    target: float | None = None,
    periods=None,
) -> pd.DataFrame:
    """An XmR chart of a series with the Making Data Count special-cause rules.

    `values`: a sequence or a Series (its index becomes the period labels unless `periods` is
    given), in time order without gaps. `improvement`: which direction is better; None marks
    special causes as neutral. `baseline`: fix the centre and limits on the first n points.

    Returns one row per point: period, value, mean, lpl, upl, mr (moving range),
    relative_to_mean (-1/0/1), close_to_limits, outside_limits, rule (``above_ucl``,
    ``below_lcl``, ``trend_increasing``, ``trend_decreasing``, ``two_in_three_above``,
    ``two_in_three_below``, ``shift_above``, ``shift_below`` or ``''``), point_type (the
    reference's labels: ``special_cause_improvement``, ``special_cause_concern``,
    ``special_cause_neutral_high``, ``special_cause_neutral_low``, ``common_cause``),
    variation (``improvement``, ``concern``, ``neutral`` or ``common``), target and assurance
    (``consistent_pass``, ``consistent_fail``, ``inconsistent``, or None without a target or a
    direction). ``attrs`` hold mean, lpl, upl, mr_bar, improvement, assurance.

        >>> chart = xmr([5, 6, 5, 7, 6, 5, 6, 20], improvement="increase")
        >>> chart["variation"].iloc[-1]
        'improvement'
    """
    y, labels = _values(values)
    if periods is not None:
        labels = list(periods)
        if len(labels) != len(y):
            raise GoodPracticeError(
                f"periods has {len(labels)} labels for {len(y)} values: they must match"
            )
    if len(y) < 3:
        raise GoodPracticeError(
            f"an XmR chart needs at least 3 points; got {len(y)}"
        )
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GoodPracticeError(
            f"value at period {labels[i]!r} is missing or not a number: an XmR chart needs an "
            "unbroken series (fill or drop the period explicitly)"
        )
    if improvement not in ("increase", "decrease", None):
        raise GoodPracticeError(
            f"improvement must be 'increase', 'decrease' or None; got {improvement!r}"
        )
    if baseline is not None and not (isinstance(baseline, (int, np.integer))
                                     and 3 <= baseline <= len(y)):
        raise GoodPracticeError(
            f"baseline must be a whole number of points between 3 and {len(y)}; got {baseline!r}"
        )
    mean, amr, mr, rtm, close, outside, rule, point_type, variation = _chart(
        y, improvement, baseline, screen_outliers, n_baseline=baseline or len(y))
    lpl, upl = mean - LIMIT * amr, mean + LIMIT * amr
    assurance = _assurance(target, lpl, upl, improvement)
    out = pd.DataFrame({
        "period": labels, "value": y, "mean": mean, "lpl": lpl, "upl": upl, "mr": mr,
        "relative_to_mean": rtm, "close_to_limits": close, "outside_limits": outside,
        "rule": rule.astype(str), "point_type": point_type, "variation": variation,
        "target": np.nan if target is None else float(target), "assurance": assurance,
    })
    out.attrs.update({"mean": mean, "lpl": lpl, "upl": upl, "mr_bar": amr,
                      "improvement": improvement, "assurance": assurance, "target": target})
    return out


def _chart(y: np.ndarray, improvement, baseline, screen_outliers, n_baseline: int):
    """The array core of :func:`xmr` (no DataFrame, so compare can run it for every series)."""
    mean, amr, mr = xmr_limits(y, baseline, screen_outliers)
    if amr == 0:
        raise GoodPracticeError(
            f"all {n_baseline} baseline values are identical ({y[0]:g}): the moving "
            "range is zero, so there are no process limits to judge variation against"
        )
    lpl, upl = mean - LIMIT * amr, mean + LIMIT * amr
    outside = (y > upl) | (y < lpl)
    rtm = np.sign(y - mean).astype(int)
    close = ~outside & ((y < mean - CLOSE * amr) | (y > mean + CLOSE * amr))
    rule = special_cause(y, rtm, close, outside)
    direction = {"increase": 1, "decrease": -1, None: 0}[improvement]
    sign = np.array([RULE_LABELS.get(r, 0) for r in rule])
    if direction == 0:
        point_type = np.where(sign > 0, "special_cause_neutral_high",
                              np.where(sign < 0, "special_cause_neutral_low", "common_cause"))
        variation = np.where(sign != 0, "neutral", "common")
    else:
        v = sign * direction
        point_type = np.where(v > 0, "special_cause_improvement",
                              np.where(v < 0, "special_cause_concern", "common_cause"))
        variation = np.where(v > 0, "improvement", np.where(v < 0, "concern", "common"))
    return mean, amr, mr, rtm, close, outside, rule, point_type, variation


def _assurance(target, lpl: float, upl: float, improvement) -> str | None:
    if target is None or improvement is None:
        return None
    if not np.isfinite(target):
        raise GoodPracticeError(f"target must be a finite number; got {target!r}")
    increasing = improvement == "increase"
    if target > upl:
        return "consistent_fail" if increasing else "consistent_pass"
    if target < lpl:
        return "consistent_pass" if increasing else "consistent_fail"
    return "inconsistent"


def last_signal(values: np.ndarray, improvement: str | None) -> str:
    """The variation of the last point of a series, or why there is none (for compare).

    ``insufficient_data`` for fewer than 3 points, ``no_variation`` for an identical series.
    """
    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y)]
    if len(y) < 3:
        return "insufficient_data"
    if np.all(y == y[0]):
        return "no_variation"
    mean, amr, _ = xmr_limits(y, None, True)
    if amr == 0:
        # Non-constant series whose screened moving ranges are all zero.
        return "no_variation"
    sign = RULE_LABELS.get(_last_rule(y, mean, amr), 0)
    direction = {"increase": 1, "decrease": -1, None: 0}[improvement]
    if sign == 0:
        return "common"
    if direction == 0:
        return "neutral"
    return "improvement" if sign * direction > 0 else "concern"


def _last_rule(y: np.ndarray, mean: float, amr: float) -> str:
    """The rule marking the last point, without charting the whole series (compare's hot path).

    The rules only look back for the last point: back-filling adds nothing after it, and the
    only 2-in-3 window that can hold three points on one side is the last three.
    """
    last = y[-1]
    above = last > mean
    if last > mean + LIMIT * amr or last < mean - LIMIT * amr:
        return "above_ucl" if np.sign(last - mean) == 1 else "below_lcl"
    if len(y) >= 7:
        d = np.sign(np.diff(y[-7:]))
        if (d == 1).all():
            return "trend_increasing"
        if (d == -1).all():
            return "trend_decreasing"
    side = "above" if above else "below"
    if len(y) >= 3:
        tail = y[-3:]
        outside = (tail > mean + LIMIT * amr) | (tail < mean - LIMIT * amr)
        close = ~outside & ((tail < mean - CLOSE * amr) | (tail > mean + CLOSE * amr))
        if close[-1] and close.sum() >= 2 and abs(np.sign(tail - mean).sum()) == 3:
            return f"two_in_three_{side}"
    if len(y) >= 7:
        r = np.sign(y[-7:] - mean)
        if r[-1] != 0 and (r == r[-1]).all():
            return f"shift_{side}"
    return ""
