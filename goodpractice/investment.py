"""Investment and its return: how outcomes move with the resources put into each Policing Model element.

`link_investment` fits, per indicator, log(outcome rate) on log(resource intensity) of every element
plus context controls, with unit and period fixed effects when the panel has at least three periods
(the within estimator of pyfixest, correct for unbalanced panels), otherwise a cross-section. Standard
errors are cluster-robust by unit. Every estimate carries a `flag` saying whether the data can identify
it; nothing the data cannot support is reported as a plain number.

`fit_clustered` is the estimation core; it is what `link_investment` calls and what the tests check
against the R sandwich / Stata reference (Petersen's data).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError

# Below this many units a cross-unit association is too fragile to report without a caveat.
MIN_UNITS = 20
# Residual degrees of freedom below this leave the clustered errors meaningless.
MIN_RESIDUAL_DF = 10
# Conventional variance-inflation limit: beyond it an element's effect is not separable from the others.
VIF_LIMIT = 10.0
# A median change of an element's share of all resource of more than this (log points) in one year,
# and more than 3x the other years' changes, is treated as a change of definitions, not of policy.
BREAK_LOG_SHARE = 0.10
# An element zero (or missing) in more than this share of unit-periods is left out, not logged.
ZERO_SHARE_LIMIT = 0.05

FLAG_ORDER = (
    "no_variation",
    "not_identified",
    "collinear",
    "too_few_units",
    "too_few_observations",
    "reclassification",
    "ok",
)


@dataclass
class ClusteredFit:
    """Coefficients of one clustered regression; a thin view of the pyfixest fit."""

    coef: pd.Series
    std_error: pd.Series
    p: pd.Series
    ci_low: pd.Series
    ci_high: pd.Series
    vcov: pd.DataFrame
    n: int
    n_clusters: int
    dropped: list[str]
    model: str
    fixed_effects: list[str]


def fit_clustered(
    df: pd.DataFrame,
    y: str,
    xs: list[str],
    cluster: str | list[str],
    fixed_effects: list[str] | None = None,
    model: Literal["ols", "poisson"] = "ols",
    offset: str | None = None,
    level: float = 0.95,
) -> ClusteredFit:
    """Regression of `y` on `xs` with cluster-robust (CRV1) errors, optionally absorbing fixed effects.

    OLS uses the Stata / R sandwich `vcovCL(type="HC1")` small-sample factor
    (G/(G-1))((N-1)/(N-K)); fixed effects are absorbed by the within transformation (never dummy
    columns), and those nested in the cluster are not counted in K, as R fixest does. Variables the
    estimator drops as collinear (or absorbed by the fixed effects) are listed in `dropped`.
    `cluster` may name two columns for two-way clustering.

    >>> fit = fit_clustered(df, "y", ["x"], cluster="firm")          # doctest: +SKIP
    >>> fit.std_error["x"]                                           # doctest: +SKIP
    0.0505957...
    """
    import pyfixest as pf

    fixed_effects = list(fixed_effects or [])
    clusters = [cluster] if isinstance(cluster, str) else list(cluster)
    needed = [y, *xs, *clusters, *fixed_effects] + ([offset] if offset else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise GoodPracticeError(f"fit_clustered: columns {missing} are not in the data frame")
    if not xs:
        raise GoodPracticeError("fit_clustered: give at least one regressor in xs")
    # Safe names: element and variable names need not be valid formula terms.
    names = {c: f"v{i}" for i, c in enumerate(dict.fromkeys(needed))}
    data = df[list(names)].rename(columns=names).dropna()
    if len(data) <= len(xs) + 1:
        raise GoodPracticeError(
            f"fit_clustered: {len(data)} complete rows for {len(xs)} regressors - too few to estimate"
        )
    for c in clusters + fixed_effects:
        data[names[c]] = data[names[c]].astype(str)
    rhs = " + ".join(names[x] for x in xs)
    fml = f"{names[y]} ~ {rhs}"
    if fixed_effects:
        fml += " | " + " + ".join(names[f] for f in fixed_effects)
    vcov = {"CRV1": "+".join(names[c] for c in clusters)}
    # Each clustering dimension gets its own G/(G-1), as R sandwich's vcovCL does (the default
    # of pyfixest uses the smallest G for all, which differs for two-way clustering).
    ssc = pf.ssc(G_df="conventional")
    with warnings.catch_warnings():
        # pyfixest announces dropped collinear variables by a warning; we report them in `dropped`.
        warnings.simplefilter("ignore")
        try:
            if model == "ols":
                fit = pf.feols(fml, data=data, vcov=vcov, ssc=ssc)
            elif model == "poisson":
                fit = pf.fepois(fml, data=data, vcov=vcov, ssc=ssc, offset=names[offset] if offset else None)
            else:
                raise GoodPracticeError(f"model must be 'ols' or 'poisson', got {model!r}")
        except GoodPracticeError:
            raise
        except Exception as exc:  # the solver's own message, placed in context
            raise GoodPracticeError(
                f"fit_clustered: the regression of {y} on {xs} could not be estimated: {exc}"
            ) from exc
    back = {v: k for k, v in names.items()}
    back["Intercept"] = "(Intercept)"
    coef = fit.coef().rename(index=back)
    ci = fit.confint(alpha=1 - level).rename(index=back)
    vc = pd.DataFrame(np.asarray(fit._vcov), index=coef.index, columns=coef.index)
    dropped = [back.get(str(v), str(v)) for v in (fit._collin_vars or [])]
    return ClusteredFit(
        coef=coef,
        std_error=fit.se().rename(index=back),
        p=fit.pvalue().rename(index=back),
        ci_low=ci.iloc[:, 0],
        ci_high=ci.iloc[:, 1],
        vcov=vc,
        n=int(fit._N),
        n_clusters=int(np.min(np.atleast_1d(fit._G))),
        dropped=dropped,
        model=model,
        fixed_effects=fixed_effects,
    )


def per_values(panel, per: str = "population") -> pd.DataFrame:
    """The divisor of resource intensity per unit and period: `unit`, `period`, `per_value`.

    Taken from the time-varying context (`panel.context`, variable == per) where it exists,
    otherwise from the unit table (the same value for every period).
    """
    periods = pd.Series(panel.periods, name="period")
    ctx = getattr(panel, "context", None)
    found = None
    if ctx is not None and len(ctx) and per in set(ctx["variable"]):
        found = ctx.loc[ctx["variable"] == per, ["unit", "period", "value"]]
        found = found.rename(columns={"value": "per_value"})
    units = panel.units
    if per in units.columns:
        static = units[["unit", per]].rename(columns={per: "per_value"}).merge(periods, how="cross")
        if found is not None:
            merged = static.merge(found, on=["unit", "period"], how="left", suffixes=("_u", ""))
            merged["per_value"] = merged["per_value"].fillna(merged["per_value_u"])
            found = merged[["unit", "period", "per_value"]]
        else:
            found = static
    if found is None:
        raise GoodPracticeError(
            f"per={per!r}: no such column in units.csv and no such variable in context.csv - "
            "give per='population' or the name of a demand variable the panel holds"
        )
    found = found.astype({"per_value": float})
    bad = found[~(found["per_value"] > 0)]
    if len(bad):
        row = bad.iloc[0]
        raise GoodPracticeError(
            f"per={per!r}: value {row['per_value']} for unit {row['unit']} in {row['period']} "
            "is not positive - resource intensity needs a positive divisor"
        )
    return found.reset_index(drop=True)


def resource_intensity(panel, measure: str = "fte", per: str = "population") -> pd.DataFrame:
    """Resource per 1,000 of `per` (population by default) for each unit, period and element.

    Columns: unit, period, element, measure, value, per_value, intensity.

    >>> resource_intensity(gp.load_example("forces")).head()        # doctest: +SKIP
    """
    res = panel.resources
    if res is None or len(res) == 0:
        raise GoodPracticeError(
            f"{getattr(panel, 'name', 'panel')}: no resources.csv data - resource intensity needs "
            "resources per element (London boroughs have none in the public data; supply your own)"
        )
    res = res[res["measure"] == measure]
    if len(res) == 0:
        measures = sorted(set(panel.resources["measure"]))
        raise GoodPracticeError(f"measure={measure!r} is not in resources.csv; it has {measures}")
    out = res.merge(per_values(panel, per), on=["unit", "period"], how="left")
    out["intensity"] = out["value"] / out["per_value"] * 1000.0
    return out.reset_index(drop=True)


def default_controls(panel) -> list[str]:
    """Context controls used when none are named: population density and deprivation, if present.

    Two controls, not all context: with 43 forces every extra control costs a degree of freedom
    and most context variables (ethnicity, urbanity, density) carry the same signal.
    """
    names = list(getattr(panel, "context_variables", []) or [])
    chosen = [n for n in names if "density" in n.lower()][:1]
    chosen += [n for n in names if re.search(r"imd|depriv", n.lower())][:1]
    return chosen


def _control_frame(panel, controls: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Controls per unit and period; positive ones enter as logs so their coefficients are elasticities."""
    periods = pd.Series(panel.periods, name="period")
    frame = panel.units[["unit"]].merge(periods, how="cross")
    ctx = getattr(panel, "context", None)
    time_varying = set(ctx["variable"]) if ctx is not None and len(ctx) else set()
    notes = []
    for c in controls:
        if c in time_varying:
            part = ctx.loc[ctx["variable"] == c, ["unit", "period", "value"]].rename(
                columns={"value": f"ctl_{c}"}
            )
            frame = frame.merge(part, on=["unit", "period"], how="left")
        elif c in panel.units.columns:
            part = panel.units[["unit", c]].rename(columns={c: f"ctl_{c}"})
            frame = frame.merge(part, on="unit", how="left")
        else:
            raise GoodPracticeError(
                f"control {c!r} is neither a column of units.csv nor a variable of context.csv"
            )
        values = pd.to_numeric(frame[f"ctl_{c}"], errors="coerce")
        if (values.dropna() > 0).all():
            frame[f"ctl_{c}"] = np.log(values)
            notes.append(f"log({c})")
        else:
            frame[f"ctl_{c}"] = values
            notes.append(c)
    return frame, notes


def _within(frame: pd.DataFrame, cols: list[str], fes: list[str], tol=1e-10, maxit=500):
    """Demean columns by several fixed effects (alternating projections; exact for unbalanced panels)."""
    x = frame[cols].to_numpy(dtype=float).copy()
    if not fes:
        return x - x.mean(axis=0)
    codes = [pd.factorize(frame[f])[0] for f in fes]
    for _ in range(maxit):
        before = x.copy()
        for code in codes:
            sums = np.zeros((code.max() + 1, x.shape[1]))
            np.add.at(sums, code, x)
            counts = np.bincount(code)[:, None]
            x -= (sums / counts)[code]
        if np.max(np.abs(x - before)) < tol:
            break
    return x


def _vif(x: np.ndarray) -> np.ndarray:
    """Variance inflation factors of already-demeaned columns; inf where a column is a combination of others."""
    if x.shape[1] == 0:
        return np.array([])
    sd = x.std(axis=0)
    out = np.full(x.shape[1], np.inf)
    ok = sd > 1e-12
    if ok.sum() == 1:
        out[ok] = 1.0
    elif ok.sum() > 1:
        corr = np.corrcoef(x[:, ok], rowvar=False)
        if np.linalg.cond(corr) < 1e12:
            out[ok] = np.diag(np.linalg.inv(corr))
    return out


def share_breaks(resources: pd.DataFrame, threshold: float = BREAK_LOG_SHARE) -> pd.DataFrame:
    """Years in which an element's share of all resource moved as one across units (a reclassification).

    For each element and each pair of consecutive periods: the median over units of the change in
    log share. A break is a median change of at least `threshold` that is also at least three times
    the typical change in the other years. Columns: element, period (the later one), median_change.
    The 2017-18 reclassification of the Police Objective Analysis (Investigations / Public
    Protection) shows up here.
    """
    if len(resources) == 0:
        return pd.DataFrame(columns=["element", "period", "median_change"])
    wide = resources.pivot_table(index=["unit", "period"], columns="element", values="value")
    share = wide.div(wide.sum(axis=1), axis=0)
    logs = np.log(share.where(share > 0)).reset_index()
    periods = sorted(logs["period"].unique())
    rows = []
    for elem in wide.columns:
        by = logs.pivot(index="unit", columns="period", values=elem)
        changes = {
            periods[i]: float(np.nanmedian(by[periods[i]] - by[periods[i - 1]]))
            for i in range(1, len(periods))
            if by[[periods[i], periods[i - 1]]].notna().all(axis=1).any()
        }
        for per, ch in changes.items():
            others = [abs(v) for p, v in changes.items() if p != per and np.isfinite(v)]
            typical = float(np.median(others)) if others else 0.0
            if np.isfinite(ch) and abs(ch) >= threshold and abs(ch) >= 3 * typical:
                rows.append({"element": elem, "period": per, "median_change": ch})
    return pd.DataFrame(rows, columns=["element", "period", "median_change"])


def _declared_breaks(panel) -> dict[str, str]:
    """Reclassifications declared in policing_model.yaml (key `reclassified`: the first period affected)."""
    out = {}
    for elem, spec in (getattr(panel, "policing_model", None) or {}).items():
        if isinstance(spec, dict):
            for key in ("reclassified", "reclassification", "break_period"):
                if spec.get(key):
                    out[elem] = str(spec[key])
    return out


@dataclass
class InvestmentResult:
    """The return on investment per element for one indicator. `.tidy()` for code, `.summary()` for people."""

    indicator: str
    measure: str
    per: str
    model: str
    design: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    fit: ClusteredFit | None = None

    def tidy(self) -> pd.DataFrame:
        """One row per element: element, elasticity, std_error, ci_low, ci_high, p, n, n_units,
        n_periods, marginal_return, flag, reason, vif, mean_rate, mean_intensity."""
        return self.table.copy()

    def summary(self) -> str:
        """Plain-text report: the model, one line per element, then every caveat."""
        t = self.table
        n = int(t["n"].iloc[0]) if len(t) else 0
        lines = [
            f"Return on investment: {self.indicator} on {self.measure} per 1,000 {self.per}",
            f"Model: {'log(rate)' if self.model == 'ols' else 'Poisson count, log-denominator offset,'}"
            " ~ log(intensity) per element"
            + (f" + {', '.join(self.controls)}" if self.controls else "")
            + f"; {self.design}; errors clustered by unit",
            (f"Observations: {n} ({int(t['n_units'].iloc[0]) if len(t) else 0} units, "
            f"{int(t['n_periods'].iloc[0]) if len(t) else 0} periods)"),
            "",
            f"{'element':<28}{'elasticity':>11}{'95% CI':>22}{'p':>8}{'marginal':>11}  flag",
        ]
        for r in t.itertuples():
            if np.isfinite(r.elasticity):
                ci = f"[{r.ci_low:.3f}, {r.ci_high:.3f}]"
                lines.append(
                    f"{r.element:<28}{r.elasticity:>11.3f}{ci:>22}{r.p:>8.3f}"
                    f"{r.marginal_return:>11.4g}  {r.flag}"
                )
            else:
                lines.append(f"{r.element:<28}{'-':>11}{'-':>22}{'-':>8}{'-':>11}  {r.flag}")
        lines.append("")
        lines.append(
            "marginal = change in the rate per extra unit of resource per 1,000, at the means."
        )
        for r in t.itertuples():
            if r.flag != "ok":
                lines.append(f"WARNING {r.element}: {r.flag} - {r.reason}")
        lines.extend(self.notes)
        lines.append(
            "These are associations across units and years, not causal effects: resources follow "
            "demand, and what the model does not control for can drive both."
        )
        return "\n".join(lines)


def _estimation_frame(panel, indicator, measure, per, controls, model):
    """Outcome rates joined to log intensities and controls; returns the frame and bookkeeping notes."""
    try:
        rates = panel.rates(indicator)
    except GoodPracticeError:
        raise
    except Exception as exc:
        raise GoodPracticeError(f"indicator {indicator!r}: {exc}") from exc
    if rates is None or len(rates) == 0:
        raise GoodPracticeError(f"indicator {indicator!r} has no outcomes in this panel")
    inten = resource_intensity(panel, measure, per)
    wide = inten.pivot_table(index=["unit", "period"], columns="element", values="intensity")
    elements = [str(e) for e in wide.columns]
    wide.columns = elements
    data = rates[["unit", "period", "numerator", "denominator", "rate"]].merge(
        wide.reset_index(), on=["unit", "period"], how="inner"
    )
    notes = []
    if len(data) == 0:
        raise GoodPracticeError(
            f"indicator {indicator!r} and {measure} resources share no unit-period: outcomes cover "
            f"{sorted(rates['period'].unique())}, resources {sorted(inten['period'].unique())}"
        )
    ctl_frame, ctl_names = _control_frame(panel, controls)
    data = data.merge(ctl_frame, on=["unit", "period"], how="left")
    for e in elements:
        data[f"log_{e}"] = np.log(data[e].where(data[e] > 0))
    data["log_rate"] = np.log(data["rate"].where(data["rate"] > 0))
    data["log_denominator"] = np.log(data["denominator"])
    return data, elements, ctl_names, notes


def link_investment(
    panel,
    indicator: str,
    measure: str = "fte",
    controls: list[str] | None = None,
    per: str = "population",
    model: Literal["ols", "poisson"] = "ols",
    elements: list[str] | None = None,
    min_units: int = MIN_UNITS,
) -> InvestmentResult:
    """Elasticity of an outcome rate with respect to the resource put into each Policing Model element.

    Per element: elasticity (% change in the rate per 1% more resource per 1,000 `per`), its
    cluster-robust standard error, 95% CI and p, and the marginal return at the means (change in
    the rate per extra unit of resource per 1,000 `per`). With >= 3 periods the model has unit and
    period fixed effects (changes within units over time); with 2 periods, period effects; with
    one, it is a cross-section. `controls` are context variables (None: density and deprivation
    if the panel has them; [] for none); time-invariant controls are absorbed by unit effects.
    `model="poisson"` fits the count with a log-denominator offset instead of the log rate.
    `elements` restricts the model to some elements (None: all the panel's elements with data).

    >>> res = gp.link_investment(gp.load_example("forces"), "violence_rate")   # doctest: +SKIP
    >>> res.tidy()[["element", "elasticity", "ci_low", "ci_high", "flag"]]   # doctest: +SKIP
    """
    if model not in ("ols", "poisson"):
        raise GoodPracticeError(f"model must be 'ols' or 'poisson', got {model!r}")
    controls = default_controls(panel) if controls is None else list(controls)
    data, all_elements, ctl_names, notes = _estimation_frame(
        panel, indicator, measure, per, controls, model
    )
    if elements is None:
        elements = all_elements
    else:
        unknown = [e for e in elements if e not in all_elements]
        if unknown:
            raise GoodPracticeError(f"elements {unknown} have no {measure} resources; "
                                    f"the panel has {all_elements}")
        elements = list(elements)
    ctl_cols = [f"ctl_{c}" for c in controls]
    y = "log_rate" if model == "ols" else "numerator"
    data = data.dropna(subset=[y])
    periods = sorted(data["period"].unique())
    n_periods = len(periods)
    if n_periods >= 3:
        fes, design = ["unit", "period"], "unit and period fixed effects (within units over time)"
    elif n_periods == 2:
        fes, design = ["period"], "pooled cross-section of 2 periods with period effects"
    else:
        fes, design = [], f"cross-section of {periods[0] if periods else 'no'} period"
    if n_periods < 3:
        notes.append(
            f"Note: only {n_periods} period(s) with both outcomes and resources, so no unit fixed "
            "effects: the estimates compare units with each other and are exposed to everything "
            "that differs between them and is not controlled for."
        )
    if "unit" in fes:
        absorbed = [c for c in ctl_cols if data.groupby("unit")[c].nunique().max() <= 1]
        if absorbed:
            names = [c.removeprefix("ctl_") for c in absorbed]
            notes.append(f"Note: controls {names} do not vary within units; unit effects absorb them.")
            ctl_names = [n for c, n in zip(ctl_cols, ctl_names) if c not in absorbed]
            ctl_cols = [c for c in ctl_cols if c not in absorbed]

    status = {e: [] for e in elements}
    candidates = []
    for e in elements:
        # An element that is zero for more than a few unit-periods cannot enter in logs without
        # throwing away those units; leave it out and say so rather than shrink the sample.
        nonpos = int((~(data[e] > 0)).sum())
        if nonpos == len(data) or data[f"log_{e}"].std() < 1e-12:
            status[e].append(("no_variation", ("the element's intensity does not vary (or is zero) "
                              "across the data")))
        elif nonpos > ZERO_SHARE_LIMIT * len(data):
            status[e].append(("not_identified", (f"zero or missing for {nonpos} of {len(data)} "
                              "unit-periods: a log needs positive values (group it with another "
                              "element, or pass elements= without it)")))
        else:
            candidates.append(e)
    complete = data.dropna(subset=[f"log_{e}" for e in candidates] + ctl_cols)
    dropped_rows = len(data) - len(complete)
    if dropped_rows:
        notes.append(
            f"Note: {dropped_rows} of {len(data)} unit-periods left out for a zero or missing "
            "resource or control (a log needs a positive value)."
        )
    data = complete
    n_units = data["unit"].nunique()
    usable = []
    for e in candidates:
        col = data[f"log_{e}"]
        if col.std() < 1e-12 or not np.isfinite(col.std()):
            status[e].append(("no_variation", "the element's intensity does not vary across the data"))
        elif "unit" in fes and data.groupby("unit")[f"log_{e}"].std().fillna(0).max() < 1e-12:
            status[e].append(
                ("not_identified", "no change within any unit over time: absorbed by unit effects")
            )
        else:
            usable.append(e)
    xs = [f"log_{e}" for e in usable] + ctl_cols
    vifs = dict(zip(xs, _vif(_within(data, xs, fes)))) if len(data) and xs else {}
    for e in usable:
        v = vifs.get(f"log_{e}", np.nan)
        if v > VIF_LIMIT:
            status[e].append(
                ("collinear", f"variance inflation {v:.1f} > {VIF_LIMIT:g}: moves with other regressors")
            )
    k_fe = (n_units if "unit" in fes else 0) + (n_periods - 1 if "period" in fes else 0)
    resid_df = len(data) - len(xs) - 1 - k_fe
    fit = None
    if usable and resid_df >= 1:
        fit = fit_clustered(
            data, y, xs, "unit", fes, model=model,
            offset="log_denominator" if model == "poisson" else None,
        )
        for e in usable:
            if f"log_{e}" in fit.dropped:
                status[e].append(
                    ("collinear", ("dropped by the estimator: a combination of other regressors "
                     "or the fixed effects"))
                )
    elif usable:
        for e in usable:
            status[e].append(("not_identified", f"{len(data)} observations for {len(xs)} regressors"))
    model_wide = []
    if n_units < min_units:
        model_wide.append(("too_few_units", f"{n_units} units (< {min_units})"))
    if 1 <= resid_df < MIN_RESIDUAL_DF:
        model_wide.append(("too_few_observations", f"{resid_df} residual degrees of freedom"))
    breaks = share_breaks(
        panel.resources[(panel.resources["measure"] == measure)
                        & panel.resources["unit"].isin(data["unit"])]
    )
    declared = _declared_breaks(panel)
    for e in elements:
        bp = set(breaks.loc[breaks["element"] == e, "period"]) | (
            {declared[e]} if e in declared else set()
        )
        spans = [p for p in bp if periods and min(periods) < p <= max(periods)]
        if spans and n_periods >= 2:
            status[e].append(
                ("reclassification", (f"definitions change in {', '.join(sorted(spans))}: the "
                 "element's share of resource shifts for all units at once"))
            )
        elif bp and n_periods == 1:
            notes.append(f"Note: {e} was reclassified in {', '.join(sorted(bp))}; compare with care.")
        status[e].extend(model_wide)

    mean_rate = float(data["rate"].mean()) if len(data) else np.nan
    rows = []
    for e in elements:
        flags = [f for f, _ in status[e]] or ["ok"]
        flag = min(flags, key=FLAG_ORDER.index)
        reason = "; ".join(r for _, r in status[e])
        term = f"log_{e}"
        has = fit is not None and term in fit.coef.index and flag not in (
            "no_variation", "not_identified"
        ) and term not in fit.dropped
        mean_int = float(data[e].mean()) if len(data) else np.nan
        el = float(fit.coef[term]) if has else np.nan
        rows.append({
            "element": e,
            "elasticity": el,
            "std_error": float(fit.std_error[term]) if has else np.nan,
            "ci_low": float(fit.ci_low[term]) if has else np.nan,
            "ci_high": float(fit.ci_high[term]) if has else np.nan,
            "p": float(fit.p[term]) if has else np.nan,
            "n": int(fit.n) if fit is not None else len(data),
            "n_units": n_units,
            "n_periods": n_periods,
            # d rate / d intensity = elasticity * rate / intensity, evaluated at the means.
            "marginal_return": el * mean_rate / mean_int if has else np.nan,
            "flag": flag,
            "reason": reason,
            "vif": float(vifs.get(term, np.nan)),
            "mean_rate": mean_rate,
            "mean_intensity": mean_int,
        })
    table = pd.DataFrame(rows)
    flagged = table[table["flag"] != "ok"]
    if len(flagged):
        warnings.warn(
            f"link_investment({indicator!r}, {measure!r}): "
            + "; ".join(f"{r.element}: {r.flag}" for r in flagged.itertuples())
            + " - see .summary() for reasons",
            UserWarning,
            stacklevel=2,
        )
    return InvestmentResult(
        indicator=indicator, measure=measure, per=per, model=model, design=design,
        table=table, notes=notes, controls=ctl_names, fit=fit,
    )
