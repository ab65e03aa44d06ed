"""Expected versus actual: each unit's outcome predicted from its resources and context by the others.

For one period, log(rate) is regressed on the log resource intensity of each Policing Model element
(when the panel has resources) and context controls across units. Each unit's expectation comes
from the model fitted WITHOUT that unit (leave-one-out), by the exact hat-matrix identity
    yhat_(-i) = y_i - e_i / (1 - h_ii),   s2_(-i) = (SSE - e_i^2 / (1 - h_ii)) / (n - p - 1),
so no unit ever predicts itself. The expected rate is the log-normal mean exp(yhat + s2 / 2), the
expected count E = expected rate x denominator / multiplier, and O / E is the indirectly
standardised ratio that the funnel plot takes.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError
from goodpractice.investment import (
    ZERO_SHARE_LIMIT,
    _control_frame,
    default_controls,
    resource_intensity,
)

# A leverage this close to 1 means the unit alone determines a coefficient: no honest LOO prediction.
MAX_LEVERAGE = 1 - 1e-8
# Fewer residual degrees of freedom than this and the leave-one-out variance is meaningless.
MIN_RESIDUAL_DF = 3

COLUMNS = ["unit", "indicator", "period", "observed", "denominator", "expected", "ratio",
           "observed_rate", "expected_rate", "method", "flag"]


def _design(panel, indicator, period, measure, controls, elements):
    """Rows of the period with log rate, the covariate columns used, and notes on what was left out."""
    rates = panel.rates(indicator)
    rates = rates[rates["period"] == period]
    if rates.empty:
        have = sorted(panel.rates(indicator)["period"].unique())
        raise GoodPracticeError(f"expected: indicator {indicator!r} has no outcomes in {period!r}; "
                                f"it has {have[:3]}..{have[-3:]}" if have else
                                f"expected: indicator {indicator!r} has no outcomes at all")
    data = panel.units[["unit"]].merge(rates, on="unit", how="left")
    data["period"], data["indicator"] = period, indicator
    notes, cols = [], []
    res = panel.resources
    has_res = res is not None and len(res) and ((res["measure"] == measure)
                                                 & (res["period"] == period)).any()
    if elements is not None and not has_res:
        # Named elements cannot silently drop out: the model would be context only.
        raise GoodPracticeError(
            f"expected: elements {list(elements)} were named, but panel {panel.name!r} has no "
            f"{measure!r} resources in {period}; drop elements= for a context-only model"
        )
    if has_res:
        inten = resource_intensity(panel, measure)
        inten = inten[inten["period"] == period]
        wide = inten.pivot_table(index="unit", columns="element", values="intensity")
        wide.columns = [str(c) for c in wide.columns]
        chosen = list(wide.columns) if elements is None else list(elements)
        unknown = [e for e in chosen if e not in wide.columns]
        if unknown:
            raise GoodPracticeError(f"expected: elements {unknown} have no {measure} resources in "
                                    f"{period}; the panel has {list(wide.columns)}")
        data = data.merge(wide[chosen].reset_index(), on="unit", how="left")
        for e in chosen:
            positive = data[e] > 0
            if (~positive).sum() > ZERO_SHARE_LIMIT * len(data) or positive.sum() < 2:
                notes.append(f"{e} left out: zero or missing for {(~positive).sum()} units")
                continue
            logged = np.log(data[e].where(positive))
            if logged.std() < 1e-12:
                notes.append(f"{e} left out: the same intensity for every unit")
                continue
            data[f"log_{e}"] = logged
            cols.append(f"log_{e}")
    if controls:
        ctl, _ = _control_frame(panel, controls)
        ctl = ctl[ctl["period"] == period].drop(columns="period")
        data = data.merge(ctl, on="unit", how="left")
        for c in controls:
            if data[f"ctl_{c}"].std() < 1e-12:
                notes.append(f"control {c} left out: no variation")
            else:
                cols.append(f"ctl_{c}")
    return data, cols, has_res, notes


def expected(
    panel,
    indicator: str,
    period: str,
    measure: str = "fte",
    controls: list[str] | None = None,
    elements: list[str] | None = None,
) -> pd.DataFrame:
    """Leave-one-out expected outcome of each unit in `period` from its resources and context.

    Works without resources (London): the model is then context only. `controls` as in
    `link_investment` (None: density and deprivation where the panel has them; [] for none).
    Columns: unit, indicator, period, observed (O), denominator, expected (E), ratio (O/E),
    observed_rate, expected_rate, method, flag ('ok', 'zero_observed' - O = 0 cannot enter a log
    model, so the unit is predicted but not fitted -, 'no_outcome', 'missing_covariates',
    'high_leverage').

    >>> oe = gp.expected(gp.load_example("london"), "crime_burglary", "2023-12")   # doctest: +SKIP
    >>> gp.funnel(oe.rename(columns={"observed": "observed"}), kind="ratio")         # doctest: +SKIP
    """
    controls = default_controls(panel) if controls is None else list(controls)
    data, cols, has_res, notes = _design(panel, indicator, period, measure, controls, elements)
    mult = float(panel.indicator(indicator)["multiplier"])
    data["observed_rate"] = data["rate"]
    data["log_rate"] = np.log(data["rate"].where(data["rate"] > 0))
    has_outcome = data["numerator"].notna() & data["denominator"].notna()
    complete = data[cols].notna().all(axis=1)
    train = has_outcome & complete & data["log_rate"].notna()
    n, p = int(train.sum()), len(cols) + 1
    if n - p < MIN_RESIDUAL_DF:
        raise GoodPracticeError(
            f"expected: {n} units with outcome and covariates for {p} coefficients in {period} - "
            "too few to predict each unit from the others; pass fewer elements= or controls="
        )
    x_all = np.column_stack([np.ones(len(data)), data[cols].to_numpy(dtype=float)])
    x = x_all[train.to_numpy()]
    y = data.loc[train, "log_rate"].to_numpy()
    # Column scaling keeps the rank check meaningful whatever the units of the covariates.
    scale = np.abs(x).max(axis=0)
    q, r = np.linalg.qr(x / scale)
    if np.linalg.matrix_rank(r) < p:
        raise GoodPracticeError(
            f"expected: the covariates {[c.split('_', 1)[1] for c in cols]} are collinear in "
            f"{period} (singular design); pass fewer elements= or controls="
        )
    beta = np.linalg.solve(r, q.T @ y) / scale
    resid = y - x @ beta
    h = np.einsum("ij,ij->i", q, q)
    sse = float(resid @ resid)
    pred = x_all @ beta
    s2 = np.full(len(data), sse / (n - p))
    idx = np.flatnonzero(train.to_numpy())
    loo_pred = y - resid / (1 - h)
    loo_s2 = (sse - resid**2 / (1 - h)) / (n - p - 1)
    pred[idx], s2[idx] = loo_pred, loo_s2
    flag = np.where(~has_outcome, "no_outcome",
                    np.where(~complete, "missing_covariates",
                             np.where(data["rate"] <= 0, "zero_observed", "ok"))).astype(object)
    high = np.zeros(len(data), bool)
    high[idx] = h > MAX_LEVERAGE
    flag[high] = "high_leverage"
    usable = complete.to_numpy() & ~high
    rate_e = np.where(usable, np.exp(pred + s2 / 2), np.nan)
    out = pd.DataFrame({
        "unit": data["unit"],
        "indicator": indicator,
        "period": period,
        "observed": data["numerator"],
        "denominator": data["denominator"],
        "expected": rate_e * data["denominator"] / mult,
        "observed_rate": data["observed_rate"],
        "expected_rate": rate_e,
    })
    out["ratio"] = out["observed"] / out["expected"]
    what = "resources and context" if has_res else ("context only" if cols else "mean of others")
    out["method"] = f"leave-one-out OLS on log rate ({what})"
    out["flag"] = flag
    bad = out[out["flag"] != "ok"]
    if len(bad) or notes:
        warnings.warn(
            f"expected({indicator!r}, {period!r}): "
            + "; ".join(notes + [f"{r.unit}: {r.flag}" for r in bad.itertuples()]),
            UserWarning, stacklevel=2,
        )
    out.attrs["covariates"] = [c.split("_", 1)[1] for c in cols]
    out.attrs["notes"] = notes
    return out[COLUMNS].reset_index(drop=True)
