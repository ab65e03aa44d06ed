"""link_investment and its estimation core fit_clustered.

The clustered standard errors are checked against R sandwich 3.1-1 and Stata on Petersen's data
(tests/data/reference/05_regression_clustered_se_petersen, SOURCE.md there); the fixed-effects
coefficients against statsmodels dummy-variable OLS, an independent implementation.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from goodpractice.errors import GoodPracticeError
from goodpractice.investment import fit_clustered, link_investment, resource_intensity, share_breaks
from goodpractice.panel import from_frames

REF = Path(__file__).parent / "data" / "reference" / "05_regression_clustered_se_petersen"


@pytest.fixture(scope="module")
def petersen():
    return pd.read_csv(REF / "input_PetersenCL.csv"), json.loads((REF / "expected.json").read_text())


def test_one_way_clustered_matches_r_sandwich(petersen):
    df, exp = petersen
    fit = fit_clustered(df, "y", ["x"], cluster="firm")
    assert fit.n == 5000 and fit.n_clusters == 500
    assert fit.coef["x"] == pytest.approx(exp["coefficients"]["x"], abs=5e-6)
    assert fit.coef["(Intercept)"] == pytest.approx(exp["coefficients"]["(Intercept)"], abs=5e-6)
    # 7 significant figures in the saved R output.
    np.testing.assert_allclose(fit.vcov.to_numpy(), exp["vcov_cluster_firm_HC1_cadjust"], rtol=1e-6)
    assert fit.std_error["x"] == pytest.approx(exp["se_cluster_firm"]["x"], rel=1e-6)
    assert fit.std_error["(Intercept)"] == pytest.approx(exp["se_cluster_firm"]["(Intercept)"], rel=1e-6)


def test_one_way_clustered_matches_stata(petersen):
    df, exp = petersen
    fit = fit_clustered(df, "y", ["x"], cluster="firm")
    np.testing.assert_allclose(fit.vcov.to_numpy(), exp["stata_mp12_regress_vce_cluster_firm"],
                               rtol=1e-4)


def test_two_way_clustered_matches_r_sandwich(petersen):
    df, exp = petersen
    fit = fit_clustered(df, "y", ["x"], cluster=["firm", "year"])
    np.testing.assert_allclose(fit.vcov.to_numpy(), exp["vcov_cluster_firm_year_twoway_HC1_cadjust"],
                               rtol=1e-6)


def test_fixed_effects_equal_dummy_ols_on_unbalanced_panel(petersen):
    df, _ = petersen
    rng = np.random.default_rng(3)
    unbalanced = df.sample(frac=0.8, random_state=1).reset_index(drop=True)
    unbalanced["z"] = rng.normal(size=len(unbalanced))
    fit = fit_clustered(unbalanced, "y", ["x", "z"], cluster="firm", fixed_effects=["firm", "year"])
    dummy = smf.ols("y ~ x + z + C(firm) + C(year)", data=unbalanced).fit()
    assert fit.coef["x"] == pytest.approx(dummy.params["x"], abs=1e-8)
    assert fit.coef["z"] == pytest.approx(dummy.params["z"], abs=1e-8)


def test_fit_clustered_reports_dropped_and_bad_input(petersen):
    df, _ = petersen
    df = df.assign(x2=df["x"] * 2.0)
    fit = fit_clustered(df, "y", ["x", "x2"], cluster="firm")
    assert fit.dropped == ["x2"]
    with pytest.raises(GoodPracticeError, match="not in the data frame"):
        fit_clustered(df, "y", ["nope"], cluster="firm")
    with pytest.raises(GoodPracticeError, match="too few"):
        fit_clustered(df.head(2), "y", ["x"], cluster="firm")


# -- a synthetic panel with known elasticities ------------------------------------------------


def make_panel(n_units=40, n_periods=5, beta=(0.5, -0.3, 0.0), seed=0, drop=0.0,
               const_within=None, zero_var=None, collinear=False, break_in=None, noise=0.05):
    rng = np.random.default_rng(seed)
    units = [f"u{i:02d}" for i in range(n_units)]
    periods = [f"{2010 + t}-{(11 + t) % 100:02d}" for t in range(n_periods)]
    pop = rng.uniform(2e5, 2e6, n_units)
    elements = ["alpha", "beta", "gamma"]
    res, out = [], []
    level = rng.normal(0, 0.3, (n_units, 3))
    alpha_u = rng.normal(0, 0.2, n_units)
    for i, u in enumerate(units):
        for t, p in enumerate(periods):
            if drop and rng.random() < drop:
                continue
            logint = level[i] + rng.normal(0, 0.15, 3)
            if const_within is not None:
                logint[const_within] = level[i, const_within]
            if zero_var is not None:
                logint[zero_var] = 0.0
            if collinear:
                logint[1] = logint[0] + 0.7
            intensity = np.exp(logint)
            if break_in is not None and p >= break_in:
                # a reclassification: 40% of beta's staff are counted under alpha from now on
                intensity[0] += 0.4 * intensity[1]
                intensity[1] *= 0.6
                logint = np.log(intensity)
            for e, x in zip(elements, intensity):
                res.append({"unit": u, "period": p, "element": e, "measure": "fte",
                            "value": x * pop[i] / 1000})
            lograte = 3 + alpha_u[i] + 0.02 * t + np.dot(beta, logint) + rng.normal(0, noise)
            crimes = round(np.exp(lograte) * pop[i] / 1000)
            out.append({"unit": u, "period": p, "indicator": "crime", "numerator": crimes,
                        "denominator": pop[i]})
    unit_df = pd.DataFrame({"unit": units, "name": units, "level": "force", "parent": "",
                            "population": pop, "density": rng.uniform(50, 5000, n_units)})
    indicators = pd.DataFrame([{"indicator": "crime", "label": "Crime", "kind": "rate",
                                "higher_is_better": False, "multiplier": 1000}])
    return from_frames(units=unit_df, outcomes=pd.DataFrame(out), indicators=indicators,
                       resources=pd.DataFrame(res))


def run(panel, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = link_investment(panel, "crime", **kw)
    return res, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def test_recovers_known_elasticities_with_fixed_effects():
    res, caught = run(make_panel(drop=0.1, seed=2), controls=[])
    t = res.tidy().set_index("element")
    assert "unit and period fixed effects" in res.design
    assert list(t["flag"]) == ["ok", "ok", "ok"] and not caught
    for e, b in zip(["alpha", "beta", "gamma"], (0.5, -0.3, 0.0)):
        assert t.loc[e, "ci_low"] < b < t.loc[e, "ci_high"]
    assert t.loc["alpha", "p"] < 0.001 and t.loc["gamma", "p"] > 0.01
    assert t["n"].iloc[0] < 200 and t["n_periods"].iloc[0] == 5 and t["n_units"].iloc[0] == 40
    # marginal return: d rate / d intensity at the means.
    row = t.loc["alpha"]
    assert row["marginal_return"] == pytest.approx(
        row["elasticity"] * row["mean_rate"] / row["mean_intensity"])
    assert set(res.tidy().columns) >= {"element", "elasticity", "std_error", "ci_low", "ci_high",
                                       "p", "n", "n_units", "n_periods", "marginal_return", "flag"}
    assert "alpha" in res.summary() and "not causal" in res.summary()


def test_poisson_model_recovers_elasticity():
    res, _ = run(make_panel(seed=2), controls=[], model="poisson")
    t = res.tidy().set_index("element")
    assert t.loc["alpha", "ci_low"] < 0.5 < t.loc["alpha", "ci_high"]


def test_cross_section_matches_statsmodels_hc1():
    panel = make_panel(n_periods=1, n_units=60, noise=0.2)
    res, _ = run(panel, controls=["density"])
    assert "cross-section" in res.design
    data = resource_intensity(panel).pivot_table(index="unit", columns="element", values="intensity")
    data = np.log(data).join(panel.rates("crime").set_index("unit")["rate"].map(np.log))
    data = data.join(np.log(panel.units.set_index("unit")["density"]))
    ols = smf.ols("rate ~ alpha + beta + gamma + density", data=data).fit(cov_type="HC1")
    t = res.tidy().set_index("element")
    for e in ("alpha", "beta", "gamma"):
        assert t.loc[e, "elasticity"] == pytest.approx(ols.params[e], rel=1e-8)
        assert t.loc[e, "std_error"] == pytest.approx(ols.bse[e], rel=1e-8)


def test_flags_too_few_units_with_warning_and_summary_line():
    res, caught = run(make_panel(n_units=12), controls=[])
    assert set(res.tidy()["flag"]) == {"too_few_units"}
    assert caught and "too_few_units" in caught[0]
    assert "WARNING alpha: too_few_units" in res.summary()
    assert res.tidy()["elasticity"].notna().all()  # a number, but never a silent one


def test_flags_zero_variance_element():
    res, caught = run(make_panel(zero_var=2), controls=[])
    t = res.tidy().set_index("element")
    assert t.loc["gamma", "flag"] == "no_variation" and np.isnan(t.loc["gamma", "elasticity"])
    assert t.loc["alpha", "flag"] == "ok"
    assert any("gamma: no_variation" in m for m in caught)


def test_flags_element_absorbed_by_unit_effects():
    res, _ = run(make_panel(const_within=2), controls=[])
    t = res.tidy().set_index("element")
    assert t.loc["gamma", "flag"] == "not_identified"
    assert np.isnan(t.loc["gamma", "elasticity"])


def test_flags_collinear_elements():
    res, _ = run(make_panel(collinear=True), controls=[])
    t = res.tidy().set_index("element")
    assert {t.loc["alpha", "flag"], t.loc["beta", "flag"]} == {"collinear"}
    assert "collinear" in res.summary()


def test_detects_reclassification_break():
    panel = make_panel(break_in="2013-14")
    breaks = share_breaks(panel.resources)
    assert list(breaks["element"]) == ["alpha", "beta"]
    assert list(breaks["period"]) == ["2013-14", "2013-14"]
    res, caught = run(panel, controls=[])
    flags = res.tidy().set_index("element")["flag"]
    assert list(flags) == ["reclassification", "reclassification", "ok"]
    assert any("reclassification" in m for m in caught)
    assert share_breaks(make_panel().resources).empty


def test_two_periods_use_pooled_cross_section():
    res, _ = run(make_panel(n_periods=2), controls=[])
    assert "2 periods" in res.design and "no unit fixed effects" in res.summary()


def test_bad_input_is_a_clear_error():
    panel = make_panel()
    with pytest.raises(GoodPracticeError, match="measure='spend_gbp'"):
        link_investment(panel, "crime", measure="spend_gbp")
    with pytest.raises(GoodPracticeError):
        link_investment(panel, "no_such_indicator")
    with pytest.raises(GoodPracticeError, match="model must be"):
        link_investment(panel, "crime", model="probit")
    with pytest.raises(GoodPracticeError, match="control 'nope'"):
        link_investment(panel, "crime", controls=["nope"])
    no_res = from_frames(units=panel.units, outcomes=panel.outcomes, indicators=panel.indicators)
    with pytest.raises(GoodPracticeError, match="no resources"):
        link_investment(no_res, "crime")
