"""Funnel plots: is a unit's rate different from the target, given how much data it has?

Spiegelhalter (2005) "Funnel plots for comparing institutional performance" and "Handling
over-dispersion of performance indicators", as implemented by the R packages FunnelPlotR (NHS-R
Community) and PHEindicatormethods (Public Health England). Three kinds of indicator:

============  ====================================  ====================  ===================
kind          value                                 transform Y           standard error s
============  ====================================  ====================  ===================
proportion    numerator / denominator               asin(sqrt(p))         1 / (2 sqrt(n))
ratio         observed / expected (O/E, e.g. SMR)   log(O/E)  (SHMI)      1 / sqrt(E)
rate          events / exposure (Poisson counts)    sqrt(O/n)             1 / (2 sqrt(n))
============  ====================================  ====================  ===================

The square root is the variance-stabilising transform of a Poisson count (Spiegelhalter 2005,
table 1), so a rate is treated like a ratio whose expected count is target x exposure.

Over-dispersion (real differences between units beyond chance, which make naive funnels flag
half the units): z-scores are winsorised (or truncated, as SHMI does) at `trim_by` each end,
phi = mean(z^2) over the retained units, and either an additive random effect
tau^2 = max(0, (N phi - (N - 1)) / (sum w - sum w^2 / sum w)), w = 1/s^2, widens the limits to
theta0 +- z_a sqrt(s^2 + tau^2), or a multiplicative factor to theta0 +- z_a sqrt(phi) s
(phi below 1 counts as 1: the adjustment never narrows the limits).

Without over-dispersion, exact limits are available through `limits=`:
``"poisson"`` (ratio and rate: exact Poisson limits from the chi-square distribution, as
FunnelPlotR), ``"phe"`` (proportion: Wilson score limits; ratio/rate: exact Poisson limits for
the funnel lines and, for each unit's flag, the PHE rule - Byar's approximation for 10 or more
events, exact below - as PHEindicatormethods) and ``"normal"`` (the transform above).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError

Kind = Literal["proportion", "ratio", "rate"]
Overdispersion = Literal["additive", "multiplicative", "none"]
Limits = Literal["auto", "normal", "poisson", "phe"]

KINDS = ("proportion", "ratio", "rate")
# Two-sided 95% and 99.8% levels: tail probabilities 0.025 and 0.001.
# Literals equal to scipy.stats.norm.ppf(0.975) and (0.999) to the last bit (tests/test_cache.py),
# so that importing this module does not import scipy.stats.
Z95 = 1.959963984540054
Z998 = 3.090232306167813
LEVELS = {"95": (0.025, Z95), "998": (0.001, Z998)}
FLAGS = ("high_998", "high_95", "within", "low_95", "low_998")

COLUMNS = [
    "unit", "numerator", "denominator", "value", "target", "z", "z_raw",
    "lower_95", "upper_95", "lower_998", "upper_998", "flag", "phi", "tau2",
]


# -- input ------------------------------------------------------------------------------------
def _columns(df: pd.DataFrame) -> tuple[str, str]:
    """Which pair of count columns the frame uses: numerator/denominator or observed/expected."""
    if {"numerator", "denominator"} <= set(df.columns):
        return "numerator", "denominator"
    if {"observed", "expected"} <= set(df.columns):
        return "observed", "expected"
    raise GoodPracticeError(
        "funnel input needs columns 'unit', 'numerator', 'denominator' "
        "(or 'unit', 'observed', 'expected' for a ratio O/E); "
        f"got {', '.join(map(str, df.columns))}"
    )


def _validate(df: pd.DataFrame, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if kind not in KINDS:
        raise GoodPracticeError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if "unit" not in df.columns:
        raise GoodPracticeError("funnel input needs a 'unit' column naming each unit")
    num_col, den_col = _columns(df)
    units = df["unit"].astype(str).to_numpy()
    if len(units) == 0:
        raise GoodPracticeError("funnel input has no rows: nothing to compare")
    dup = pd.Series(units)[pd.Series(units).duplicated()]
    if not dup.empty:
        raise GoodPracticeError(
            f"unit {dup.iloc[0]!r} appears more than once in the funnel input: "
            "aggregate to one row per unit first"
        )
    values = {}
    for col in (num_col, den_col):
        raw = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(raw)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise GoodPracticeError(
                f"unit {units[i]!r}, column {col!r}: expected a finite number, "
                f"got {df[col].iloc[i]!r} - drop the unit or supply the count"
            )
        values[col] = raw
    num, den = values[num_col], values[den_col]
    if (den <= 0).any():
        i = int(np.flatnonzero(den <= 0)[0])
        raise GoodPracticeError(
            f"unit {units[i]!r}, column {den_col!r}: must be > 0, got {den[i]:g}"
        )
    if (num < 0).any():
        i = int(np.flatnonzero(num < 0)[0])
        raise GoodPracticeError(
            f"unit {units[i]!r}, column {num_col!r}: must be >= 0, got {num[i]:g}"
        )
    if kind == "proportion" and (num > den).any():
        i = int(np.flatnonzero(num > den)[0])
        raise GoodPracticeError(
            f"unit {units[i]!r}: numerator {num[i]:g} exceeds denominator {den[i]:g}, "
            "impossible for a proportion"
        )
    return units, num, den


# -- transforms -------------------------------------------------------------------------------
def _transform(kind: str, p: np.ndarray) -> np.ndarray:
    """Natural-scale value (proportion, ratio or rate, no multiplier) to the transformed scale."""
    if kind == "proportion":
        return np.arcsin(np.sqrt(np.clip(p, 0.0, 1.0)))
    if kind == "ratio":
        return np.log(p)
    return np.sqrt(p)


def _back(kind: str, y: np.ndarray) -> np.ndarray:
    if kind == "proportion":
        return np.sin(np.clip(y, 0.0, np.pi / 2)) ** 2
    if kind == "ratio":
        return np.exp(y)
    return np.clip(y, 0.0, None) ** 2


def _se(kind: str, den: np.ndarray) -> np.ndarray:
    if kind == "ratio":
        return 1.0 / np.sqrt(den)
    return 1.0 / (2.0 * np.sqrt(den))


# -- over-dispersion --------------------------------------------------------------------------
def dispersion(z: np.ndarray, s: np.ndarray, trim: str = "winsorise", trim_by: float = 0.1
               ) -> tuple[float, float]:
    """phi and tau^2 from unadjusted z-scores and standard errors (FunnelPlotR's rules).

    ``winsorise`` clips z at the `trim_by` and 1 - `trim_by` quantiles (R type 7, numpy's
    default); ``truncate`` (SHMI) drops units whose rank group floor(rank k / (N + 1)),
    k = 1 / trim_by, is the first or last, and uses only the retained units for phi and tau^2.

        >>> dispersion(np.array([2.0, -2.0, 1.0]), np.array([0.1, 0.1, 0.1]))[0] > 1
        True
    """
    if not 0 <= trim_by < 0.5:
        raise GoodPracticeError(f"trim_by must be in [0, 0.5); got {trim_by}")
    if trim == "winsorise":
        lo, hi = np.quantile(z, [trim_by, 1 - trim_by])
        zt, st = np.clip(z, lo, hi), s
    elif trim == "truncate":
        from scipy import stats  # here, not above: scipy.stats takes 0.5 s to import

        k = 1.0 / trim_by if trim_by > 0 else np.inf
        rank = stats.rankdata(z, method="average")
        group = np.floor(rank * k / (len(z) + 1))
        keep = (group > 0) & (group < k - 1) if np.isfinite(k) else np.ones(len(z), bool)
        zt, st = z[keep], s[keep]
    else:
        raise GoodPracticeError(f"trim must be 'winsorise' or 'truncate'; got {trim!r}")
    n = len(zt)
    if n < 2:
        return float("nan"), 0.0
    phi = float(np.mean(zt**2))
    w = 1.0 / st**2
    denom = w.sum() - (w**2).sum() / w.sum()
    tau2 = 0.0 if n * phi < n - 1 or denom <= 0 else max(0.0, (n * phi - (n - 1)) / denom)
    return phi, float(tau2)


# -- exact limits -----------------------------------------------------------------------------
def _poisson_limits(expected: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """FunnelPlotR's exact Poisson limits of O/E at expected count E (target ratio 1)."""
    from scipy import stats  # lazy: keeps `import goodpractice` light
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = stats.chi2.ppf(tail, 2 * expected) / 2 / expected
        hi = stats.chi2.ppf(1 - tail, 2 * (expected + 1)) / 2 / expected
    return np.nan_to_num(lo, nan=0.0), hi


def _invert_observed(expected: np.ndarray, q: float, upper_ci: bool) -> np.ndarray:
    """Continuous O whose exact Poisson CI bound equals `expected` (PHE's funnel lines).

    Lower line: E = upper CI of O = Gamma(O + 1) quantile (1 - tail): solve
    gammainc(O + 1, E) = q for O. Upper line: E = lower CI of O = Gamma(O) quantile tail.
    Vectorised bisection (gammainc is monotone decreasing in its shape parameter).
    """
    from scipy import special  # lazy: keeps `import goodpractice` light
    lo = np.zeros_like(expected)
    hi = expected + 20 * np.sqrt(expected) + 50
    shift = 1.0 if upper_ci else 0.0
    for _ in range(80):
        mid = (lo + hi) / 2
        f = special.gammainc(np.maximum(mid + shift, 1e-12), expected)
        # f decreases with O: f > q means O is still too small.
        too_small = f > q
        lo = np.where(too_small, mid, lo)
        hi = np.where(too_small, hi, mid)
    return (lo + hi) / 2


def _phe_ratio_limits(expected: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    lower_o = _invert_observed(expected, 1 - tail, upper_ci=True)
    upper_o = _invert_observed(expected, tail, upper_ci=False)
    return lower_o / expected, upper_o / expected


def _wilson_limits(n: np.ndarray, p0: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """PHE's Wilson-score funnel limits around the baseline proportion p0 (sigma_adjustment)."""
    z2 = z * z
    first = p0 * (n / z2 + 1)
    inner = (-8 * p0 * (n / z2 + 1)) ** 2 - 64 * (1 / z2 + 1 / n) * p0 * (
        n * (p0 * (n / z2 + 2) - 1) + z2 * (p0 - 1)
    )
    adj = np.sqrt(np.maximum(inner, 0.0))
    last = 1 / z2 + 1 / n
    return (first - adj / 8) / last / n, (first + adj / 8) / last / n


def _byar_ci(obs: np.ndarray, z: float, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """CI of a Poisson count: Byar's approximation for O >= 10, exact (chi-square) below."""
    from scipy import stats  # lazy: keeps `import goodpractice` light
    with np.errstate(divide="ignore", invalid="ignore"):
        b_lo = obs * (1 - 1 / (9 * obs) - z / (3 * np.sqrt(obs))) ** 3
        o1 = obs + 1
        b_hi = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
        e_lo = np.nan_to_num(stats.chi2.ppf(tail, 2 * obs) / 2, nan=0.0)
        e_hi = stats.chi2.ppf(1 - tail, 2 * (obs + 1)) / 2
    small = obs < 10
    return np.where(small, e_lo, b_lo), np.where(small, e_hi, b_hi)


# -- limits at any denominator ----------------------------------------------------------------
def _resolve_limits(kind: str, overdispersion: str, limits: str) -> str:
    if overdispersion not in ("additive", "multiplicative", "none"):
        raise GoodPracticeError(
            f"overdispersion must be 'additive', 'multiplicative' or 'none'; got {overdispersion!r}"
        )
    if limits == "auto":
        if overdispersion != "none":
            return "normal"
        return "phe" if kind == "proportion" else "poisson"
    if limits not in ("normal", "poisson", "phe"):
        raise GoodPracticeError(
            f"limits must be 'auto', 'normal', 'poisson' or 'phe'; got {limits!r}"
        )
    if limits != "normal" and overdispersion != "none":
        raise GoodPracticeError(
            f"limits={limits!r} are exact limits without over-dispersion: "
            "pass overdispersion='none', or limits='normal' to adjust for over-dispersion"
        )
    if limits == "poisson" and kind == "proportion":
        raise GoodPracticeError(
            "limits='poisson' is for ratios and rates; use limits='phe' (Wilson score) "
            "for a proportion"
        )
    return limits


def funnel_limits(
    denominators,
    target: float,
    kind: Kind = "proportion",
    overdispersion: Overdispersion = "none",
    tau2: float = 0.0,
    phi: float = 1.0,
    limits: Limits = "auto",
    multiplier: float = 1.0,
) -> pd.DataFrame:
    """Control limits at any denominators (for drawing the funnel curves, or for one unit).

    `target` is on the value scale (including `multiplier`); for a ratio the denominator is the
    expected count E. Returns columns denominator, target, lower_95, upper_95, lower_998,
    upper_998 (values on the value scale).

        >>> float(funnel_limits([15, 20, 30], 1.0, "ratio")["lower_95"].iloc[0])  # doctest: +ELLIPSIS
        0.5596924...
    """
    method = _resolve_limits(kind, overdispersion, limits)
    n = np.asarray(denominators, dtype=float).ravel()
    if n.size and (not np.isfinite(n).all() or (n <= 0).any()):
        raise GoodPracticeError("funnel_limits: every denominator must be a finite number > 0")
    t0 = float(target) / multiplier
    out = {"denominator": n, "target": np.full(n.shape, float(target))}
    for level, (tail, z) in LEVELS.items():
        if method == "normal":
            s = _se(kind, n)
            if overdispersion == "additive":
                width = z * np.sqrt(s**2 + tau2)
            elif overdispersion == "multiplicative":
                width = z * np.sqrt(max(phi, 1.0)) * s
            else:
                width = z * s
            y0 = _transform(kind, np.array(t0))
            lo, hi = _back(kind, y0 - width), _back(kind, y0 + width)
        elif method == "poisson":
            # A rate is a ratio whose expected count is target x exposure.
            e = n if kind == "ratio" else n * t0
            lo, hi = _poisson_limits(e, tail)
            lo, hi = lo * t0, hi * t0
        elif kind == "proportion":  # phe
            lo, hi = _wilson_limits(n, t0, z)
            lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
        else:  # phe, ratio or rate
            e = n if kind == "ratio" else n * t0
            lo, hi = _phe_ratio_limits(e, tail)
            lo, hi = lo * t0, hi * t0
        out[f"lower_{level}"] = lo * multiplier
        out[f"upper_{level}"] = hi * multiplier
    return pd.DataFrame(out)


# -- the funnel -------------------------------------------------------------------------------
def funnel(
    df: pd.DataFrame,
    kind: Kind = "proportion",
    overdispersion: Overdispersion = "additive",
    trim: Literal["winsorise", "truncate"] = "winsorise",
    trim_by: float = 0.1,
    target: float | None = None,
    limits: Limits = "auto",
    multiplier: float = 1.0,
) -> pd.DataFrame:
    """Funnel-plot limits and a flag for every unit.

    `df` has one row per unit: ``unit`` and either ``numerator``/``denominator`` or
    ``observed``/``expected`` (the natural names for a ratio O/E; both styles work for every
    kind). `target` is on the value scale; by default the pooled value (sum numerator /
    sum denominator) for a proportion or rate and 1 for a ratio. `multiplier` scales value,
    target and limits (100 for per cent).

    Returns one row per unit, in input order: unit, numerator, denominator, value, target,
    z (on the transformed scale, after the chosen over-dispersion adjustment - the z the flag
    uses for ``limits='normal'``), z_raw (unadjusted), lower_95, upper_95, lower_998,
    upper_998, flag (``high_998``, ``high_95``, ``within``, ``low_95``, ``low_998``), and the
    run's estimated phi and tau2 (same on every row; applied only when `overdispersion` is not
    ``'none'``). ``df.attrs`` holds phi, tau2, kind, target, overdispersion, limits, trim,
    trim_by, multiplier.

        >>> d = pd.DataFrame({"unit": list("abc"), "numerator": [10, 20, 30],
        ...                   "denominator": [100, 100, 100]})
        >>> funnel(d, overdispersion="none", limits="normal")["flag"].tolist()
        ['low_95', 'within', 'high_95']
    """
    units, num, den = _validate(df, kind)
    method = _resolve_limits(kind, overdispersion, limits)
    if multiplier <= 0 or not np.isfinite(multiplier):
        raise GoodPracticeError(f"multiplier must be a positive number; got {multiplier}")
    if target is None:
        t0 = 1.0 if kind == "ratio" else float(num.sum() / den.sum())
    else:
        if not np.isfinite(target) or target < 0:
            raise GoodPracticeError(f"target must be a finite number >= 0; got {target}")
        t0 = float(target) / multiplier
    if kind == "proportion" and t0 > 1:
        raise GoodPracticeError(
            f"target {t0 * multiplier:g} is above 100% of the multiplier {multiplier:g}"
        )
    if kind == "ratio" and t0 <= 0:
        raise GoodPracticeError("a ratio's target must be > 0 (the log scale needs it)")

    value = num / den
    # log(0) is -inf: a ratio with no events gets half an event on the transformed scale only.
    y_in = np.where((kind == "ratio") & (num == 0), 0.5 / den, value)
    y = _transform(kind, y_in)
    y0 = float(_transform(kind, np.array(t0)))
    s = _se(kind, den)
    z_raw = (y - y0) / s
    if len(units) >= 2:
        phi, tau2 = dispersion(z_raw, s, trim=trim, trim_by=trim_by)
    else:
        phi, tau2 = float("nan"), 0.0
    if overdispersion != "none" and len(units) < 3:
        raise GoodPracticeError(
            f"over-dispersion needs at least 3 units to estimate; got {len(units)} - "
            "pass overdispersion='none'"
        )
    if overdispersion == "additive":
        z = (y - y0) / np.sqrt(s**2 + tau2)
    elif overdispersion == "multiplicative":
        z = z_raw / np.sqrt(max(phi, 1.0))
    else:
        z = z_raw

    lim = funnel_limits(den, t0 * multiplier, kind, overdispersion, tau2,
                        phi if np.isfinite(phi) else 1.0, method, multiplier)
    v = value * multiplier
    if method == "normal":
        flag = np.select([z > Z998, z > Z95, z < -Z998, z < -Z95],
                         ["high_998", "high_95", "low_998", "low_95"], "within")
    elif method == "phe" and kind != "proportion":
        flag = _phe_ratio_flags(num, den if kind == "ratio" else den * t0)
    else:
        # PHE and FunnelPlotR compare the value with the limits strictly; 99.8% first.
        flag = np.select(
            [v < lim["lower_998"].to_numpy(), v < lim["lower_95"].to_numpy(),
             v > lim["upper_998"].to_numpy(), v > lim["upper_95"].to_numpy()],
            ["low_998", "low_95", "high_998", "high_95"], "within")
    out = pd.DataFrame({
        "unit": units, "numerator": num, "denominator": den, "value": v,
        "target": t0 * multiplier, "z": z, "z_raw": z_raw,
        "lower_95": lim["lower_95"].to_numpy(), "upper_95": lim["upper_95"].to_numpy(),
        "lower_998": lim["lower_998"].to_numpy(), "upper_998": lim["upper_998"].to_numpy(),
        "flag": flag, "phi": phi, "tau2": tau2,
    })
    out.attrs.update({
        "phi": phi, "tau2": tau2, "kind": kind, "target": t0 * multiplier,
        "overdispersion": overdispersion, "limits": method, "trim": trim, "trim_by": trim_by,
        "multiplier": multiplier,
    })
    return out


def _phe_ratio_flags(obs: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """PHE significance of O/E: does the CI of O (Byar / exact) divided by E exclude 1?"""
    lo3, hi3 = _byar_ci(obs, Z998, 0.001)
    lo2, hi2 = _byar_ci(obs, Z95, 0.025)
    return np.select(
        [lo3 / expected > 1, lo2 / expected > 1, hi3 / expected < 1, hi2 / expected < 1],
        ["high_998", "high_95", "low_998", "low_95"], "within")


def funnel_curve(funnel_df: pd.DataFrame, points: int = 200) -> pd.DataFrame:
    """The funnel's limit curves over the denominators of a :func:`funnel` result (for plots).

        >>> d = pd.DataFrame({"unit": list("abc"), "numerator": [10, 20, 30],
        ...                   "denominator": [100, 200, 300]})
        >>> len(funnel_curve(funnel(d, overdispersion="none")))
        200
    """
    a = funnel_df.attrs
    needed = {"kind", "target", "overdispersion", "limits", "tau2", "phi", "multiplier"}
    if not needed <= set(a):
        raise GoodPracticeError(
            "funnel_curve needs the DataFrame returned by funnel() (its attrs hold the run's "
            "settings); pass curves explicitly otherwise"
        )
    den = funnel_df["denominator"].to_numpy(dtype=float)
    lo, hi = max(den.min() * 0.5, 1e-9), den.max() * 1.1
    grid = np.geomspace(lo, hi, points)
    phi = a["phi"] if np.isfinite(a["phi"]) else 1.0
    return funnel_limits(grid, a["target"], a["kind"], a["overdispersion"], a["tau2"], phi,
                         a["limits"], a["multiplier"])
