"""expected(): leave-one-out expectations, checked against a brute-force refit without each unit."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from goodpractice.errors import GoodPracticeError
from goodpractice.expected import expected
from goodpractice.investment import resource_intensity
from goodpractice.panel import from_frames, load_example

ELEMENTS = ["investigations", "neighbourhood_policing", "criminal_justice"]


def quiet(fn, *a, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return fn(*a, **kw), [str(w.message) for w in caught]


def brute_force(y: pd.Series, x: pd.DataFrame) -> pd.Series:
    """exp(prediction + s2/2) for each unit from an OLS fitted to all the other units."""
    out = {}
    x = sm.add_constant(x)
    for unit in y.index:
        others = y.index != unit
        fit = sm.OLS(y[others], x[others]).fit()
        pred = float(fit.predict(x.loc[[unit]]).iloc[0])
        out[unit] = np.exp(pred + fit.scale / 2)
    return pd.Series(out)


@pytest.fixture(scope="module")
def forces():
    return load_example("forces")


def test_leave_one_out_equals_refit_without_each_unit(forces):
    got, caught = quiet(expected, forces, "charge_rate", "2017-18", controls=["imd_score"],
                        elements=ELEMENTS)
    got = got.set_index("unit")
    inten = resource_intensity(forces).query("period == '2017-18'")
    x = np.log(inten.pivot_table(index="unit", columns="element", values="intensity")[ELEMENTS])
    x["imd"] = np.log(forces.units.set_index("unit")["imd_score"])
    rates = forces.rates("charge_rate").query("period == '2017-18'").set_index("unit")["rate"]
    keep = x.dropna().index
    truth = brute_force(np.log(rates[keep]), x.loc[keep])
    np.testing.assert_allclose(got.loc[keep, "expected_rate"], truth[keep], rtol=1e-9)
    # Welsh forces have no IMD: no covariates, no expectation - and it says so.
    wales = x.index[x["imd"].isna()]
    assert len(wales) >= 4 and (got.loc[wales, "flag"] == "missing_covariates").all()
    assert got.loc[wales, "expected"].isna().all()
    assert any("missing_covariates" in m for m in caught)


def test_columns_and_counts(forces):
    got, _ = quiet(expected, forces, "charge_rate", "2017-18", controls=[], elements=ELEMENTS)
    assert list(got.columns) == ["unit", "indicator", "period", "observed", "denominator",
                                 "expected", "ratio", "observed_rate", "expected_rate", "method",
                                 "flag"]
    ok = got[got["flag"] == "ok"]
    np.testing.assert_allclose(ok["expected"], ok["expected_rate"] * ok["denominator"] / 100)
    np.testing.assert_allclose(ok["ratio"], ok["observed"] / ok["expected"])
    assert "resources and context" in ok["method"].iloc[0]
    # Over all units O/E centres near 1 (the log-normal mean keeps E unbiased on the count scale).
    assert 0.9 < ok["observed"].sum() / ok["expected"].sum() < 1.1


def test_a_unit_never_predicts_itself(forces):
    base, _ = quiet(expected, forces, "charge_rate", "2017-18", controls=[], elements=ELEMENTS)
    changed = forces.outcomes.copy()
    row = (changed["indicator"] == "charge_rate") & (changed["period"] == "2017-18") & (
        changed["unit"] == base["unit"].iloc[0])
    changed.loc[row, "numerator"] = changed.loc[row, "numerator"] * 0.5
    other = from_frames(units=forces.units, outcomes=changed, indicators=forces.indicators,
                        resources=forces.resources, policing_model=forces.policing_model)
    moved, _ = quiet(expected, other, "charge_rate", "2017-18", controls=[], elements=ELEMENTS)
    assert moved["expected"].iloc[0] == pytest.approx(base["expected"].iloc[0], rel=1e-12)
    assert moved["observed"].iloc[0] != base["observed"].iloc[0]
    assert not np.allclose(moved["expected"].iloc[1:], base["expected"].iloc[1:])


def test_context_only_without_resources():
    london = load_example("london")
    period = london.periods[-1]
    got, _ = quiet(expected, london, "crime_burglary", period)
    assert "context only" in got["method"].iloc[0]
    assert got["expected"].notna().sum() >= 30
    units = london.units.set_index("unit")
    covs = got.attrs["covariates"]
    assert covs  # density and deprivation, as default_controls picks them
    x = np.log(units[covs]).rename(columns=lambda c: c)
    rates = london.rates("crime_burglary").query("period == @period").set_index("unit")["rate"]
    keep = x.dropna().index.intersection(rates.index)
    truth = brute_force(np.log(rates[keep]), x.loc[keep])
    np.testing.assert_allclose(got.set_index("unit").loc[keep, "expected_rate"], truth, rtol=1e-9)


def test_intercept_only_is_mean_of_the_others():
    london = load_example("london")
    period = london.periods[-1]
    got, _ = quiet(expected, london, "crime_burglary", period, controls=[])
    assert "mean of others" in got["method"].iloc[0]
    logs = np.log(london.rates("crime_burglary").query("period == @period").set_index("unit")["rate"])
    u = logs.index[0]
    others = logs.drop(u)
    assert got.set_index("unit").loc[u, "expected_rate"] == pytest.approx(
        np.exp(others.mean() + others.var(ddof=1) / 2), rel=1e-10)


def test_bad_input(forces):
    with pytest.raises(GoodPracticeError, match="no outcomes in '1999-00'"):
        expected(forces, "charge_rate", "1999-00")
    with pytest.raises(GoodPracticeError, match="elements"):
        expected(forces, "charge_rate", "2017-18", elements=["nope"])
    # Named elements with no resources in the period (London has none): an error, not a
    # context-only model that looks as if it used them.
    with pytest.raises(GoodPracticeError, match=r"elements \['investigations'\].*no 'fte'"):
        expected(load_example("london"), "crime_burglary", "2023-12",
                 elements=["investigations"])
    with pytest.raises(GoodPracticeError, match="no 'fte' resources in 2018-19"):
        expected(forces, "charge_rate", "2018-19", elements=["investigations"])
    units = forces.units.head(6)
    small = forces.subset(units=list(units["unit"]))
    with pytest.raises(GoodPracticeError, match="too few"):
        quiet(expected, small, "charge_rate", "2017-18", controls=["imd_score"], elements=ELEMENTS)
    with pytest.raises(GoodPracticeError, match="collinear"):
        res = forces.resources.copy()
        twin = res[res["element"] == "investigations"].assign(element="twin",
                                                              value=lambda d: d["value"] * 2)
        model = dict(forces.policing_model, twin={"label": "Twin", "description": "",
                                                  "functions": []})
        p = from_frames(units=forces.units, outcomes=forces.outcomes, indicators=forces.indicators,
                        resources=pd.concat([res, twin]), policing_model=model)
        quiet(expected, p, "charge_rate", "2017-18", controls=[], elements=["investigations", "twin"])
