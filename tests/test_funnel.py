"""Funnel plots against FunnelPlotR (case 01) and PHEindicatormethods (case 01b), plus invariants."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodpractice.errors import GoodPracticeError
from goodpractice.funnel import funnel, funnel_curve, funnel_limits

REF = Path(__file__).parent / "data" / "reference"
FPR = REF / "01_funnel_funnelplotr_unit_tests"
PHE = REF / "01b_funnel_phe_exact_limits"
PHE_FLAGS = {"High (0.001)": "high_998", "High (0.025)": "high_95", "Low (0.001)": "low_998",
             "Low (0.025)": "low_95", "Not significant": "within"}


# -- case 01: FunnelPlotR ---------------------------------------------------------------------
def test_funnelplotr_phi_small6_shmi_truncation():
    d = pd.read_csv(FPR / "input_small6_unit_test.csv")
    expected = json.loads((FPR / "expected_small6_unit_test.json").read_text())
    df = d.rename(columns={"group": "unit", "num": "observed", "denom": "expected"})
    out = funnel(df, kind="ratio", trim="truncate", trim_by=0.1)
    assert round(out.attrs["phi"], 6) == expected["phi_rounded_6dp"]
    assert (out["phi"] == out.attrs["phi"]).all()


def test_funnelplotr_small6_limits_follow_tau2():
    # Additive limits: exp(+- z sqrt(1/E + tau2)) around ratio 1 (FunnelPlotR SHMI definition).
    d = pd.read_csv(FPR / "input_small6_unit_test.csv")
    df = d.rename(columns={"group": "unit", "num": "numerator", "denom": "denominator"})
    out = funnel(df, kind="ratio", trim="truncate")
    tau2 = out.attrs["tau2"]
    assert tau2 > 0
    e = out["denominator"].to_numpy()
    np.testing.assert_allclose(out["upper_998"], np.exp(3.090232 * np.sqrt(1 / e + tau2)),
                               rtol=1e-6)
    np.testing.assert_allclose(out["lower_95"], np.exp(-1.959964 * np.sqrt(1 / e + tau2)),
                               rtol=1e-6)


def test_funnelplotr_exact_poisson_limits():
    ref = pd.read_csv(FPR / "expected_poisson_limits_unit_test.csv")
    lim = funnel_limits(ref["number_seq"], target=1.0, kind="ratio", overdispersion="none",
                        limits="poisson")
    for mine, theirs in [("lower_95", "ll95"), ("upper_95", "ul95"), ("lower_998", "ll998"),
                         ("upper_998", "ul998")]:
        np.testing.assert_allclose(lim[mine], ref[theirs], rtol=1e-6)


# -- case 01b: PHEindicatormethods ------------------------------------------------------------
def test_phe_proportion_significance_all_303_areas():
    d = pd.read_csv(PHE / "testdata_funnel_prop_inputs.csv")
    out = funnel(d.rename(columns={"Area": "unit"}), kind="proportion", overdispersion="none",
                 limits="phe", multiplier=100)
    assert out["target"].iloc[0] == pytest.approx(80.642448, abs=1e-6)
    assert (out["flag"].to_numpy() == d["significance"].map(PHE_FLAGS).to_numpy()).all()


@pytest.mark.parametrize("filename, keep_below", [
    ("testdata_funnel_prop_outputs.csv", None),
    ("testdata_funnel_prop_outputs_with_axis_variation.csv", 31000),
])
def test_phe_proportion_funnel_lines(filename, keep_below):
    d = pd.read_csv(PHE / "testdata_funnel_prop_inputs.csv")
    if keep_below:
        d = d[d["denominator"] < keep_below]
    ref = pd.read_csv(PHE / filename)
    baseline = d["numerator"].sum() / d["denominator"].sum() * 100
    assert baseline == pytest.approx(ref["Baseline"].iloc[0], abs=1e-6)
    lim = funnel_limits(ref["Population"], baseline, "proportion", "none", limits="phe",
                        multiplier=100)
    for mine, theirs in [("lower_95", "Lower2s0025limit"), ("upper_95", "Upper2s0025limit"),
                         ("lower_998", "Lower3s0001limit"), ("upper_998", "Upper3s0001limit")]:
        # The fixtures are printed to 6-8 significant digits.
        np.testing.assert_allclose(lim[mine], ref[theirs], rtol=1e-7, atol=1e-6)


def test_phe_ratio_significance_all_300_rows():
    d = pd.read_csv(PHE / "testdata_funnel_ratio_inputs.csv")
    d["unit"] = [f"area_{i}" for i in range(len(d))]
    out = funnel(d.rename(columns={"obs": "observed"}), kind="ratio", overdispersion="none",
                 limits="phe")
    assert (out["flag"].to_numpy() == d["significance"].map(PHE_FLAGS).to_numpy()).all()


def test_phe_ratio_funnel_lines():
    ref = pd.read_csv(PHE / "testdata_funnel_ratio_outputs.csv")
    for level, s in (("95", "2s"), ("998", "3s")):
        lo = funnel_limits(ref[f"lower_{s}_exp_events"], 100, "ratio", "none", limits="phe",
                           multiplier=100)
        hi = funnel_limits(ref[f"upper_{s}_exp_events"], 100, "ratio", "none", limits="phe",
                           multiplier=100)
        # PHE solves these lines by bisection: agreement to 1e-5 relative is the fixture's own.
        np.testing.assert_allclose(lo[f"lower_{level}"], ref[f"lower_{s}_isr"], rtol=2e-5)
        np.testing.assert_allclose(hi[f"upper_{level}"], ref[f"upper_{s}_isr"], rtol=2e-5)
        np.testing.assert_allclose(lo[f"lower_{level}"] / 100 - 1, ref[f"lower_{s}_count"],
                                   rtol=1e-4, atol=1e-6)


# -- behaviour --------------------------------------------------------------------------------
def _frame(num, den):
    return pd.DataFrame({"unit": [f"u{i:03d}" for i in range(len(num))], "numerator": num,
                         "denominator": den})


def test_output_columns_and_attrs():
    out = funnel(_frame([10, 20, 30, 25], [100, 120, 140, 90]))
    assert list(out.columns) == ["unit", "numerator", "denominator", "value", "target", "z",
                                 "z_raw", "lower_95", "upper_95", "lower_998", "upper_998",
                                 "flag", "phi", "tau2"]
    for key in ("phi", "tau2", "kind", "target", "overdispersion", "limits"):
        assert key in out.attrs
    assert set(out["flag"]) <= {"high_998", "high_95", "within", "low_95", "low_998"}


def test_overdispersion_widens_limits_and_reduces_flags():
    rng = np.random.default_rng(3)
    den = rng.integers(500, 5000, 60)
    p = np.clip(rng.normal(0.3, 0.06, 60), 0.01, 0.99)
    num = rng.binomial(den, p)
    none = funnel(_frame(num, den), overdispersion="none", limits="normal")
    add = funnel(_frame(num, den), overdispersion="additive")
    mult = funnel(_frame(num, den), overdispersion="multiplicative")
    assert add.attrs["phi"] > 1.5 and add.attrs["tau2"] > 0
    assert (add["upper_998"] > none["upper_998"]).all()
    assert (mult["upper_998"] > none["upper_998"]).all()
    assert (add["flag"] != "within").sum() < (none["flag"] != "within").sum()


def test_multiplicative_limits_formula():
    out = funnel(_frame([10, 50, 30, 90, 12], [100, 200, 150, 300, 100]),
                 overdispersion="multiplicative")
    phi = max(out.attrs["phi"], 1.0)
    p0 = out.attrs["target"]
    s = 1 / (2 * np.sqrt(out["denominator"]))
    upper = np.sin(np.arcsin(np.sqrt(p0)) + 3.090232 * np.sqrt(phi) * s) ** 2
    np.testing.assert_allclose(out["upper_998"], upper, rtol=1e-6)


def test_rate_uses_square_root_transform():
    out = funnel(_frame([5, 40, 9], [1000, 8000, 1500]), kind="rate", overdispersion="none",
                 limits="normal", multiplier=1000)
    r0 = 54 / 10500
    s = 1 / (2 * np.sqrt(out["denominator"]))
    np.testing.assert_allclose(out["upper_95"], (np.sqrt(r0) + 1.959964 * s) ** 2 * 1000,
                               rtol=1e-6)
    assert out["target"].iloc[0] == pytest.approx(r0 * 1000)


def test_curve_spans_the_units():
    out = funnel(_frame([10, 20, 30, 25], [100, 120, 140, 90]))
    curve = funnel_curve(out, points=50)
    assert len(curve) == 50
    assert curve["denominator"].min() < 90 and curve["denominator"].max() > 140


@pytest.mark.parametrize("num, den, message", [
    ([1, 2], [10, 0], "u001.*'denominator'.*> 0"),
    ([1, -2], [10, 10], "u001.*'numerator'.*>= 0"),
    ([1, 20], [10, 10], "u001.*exceeds denominator"),
    ([1, np.nan], [10, 10], "u001.*'numerator'.*finite"),
])
def test_bad_input_names_unit_and_column(num, den, message):
    with pytest.raises(GoodPracticeError, match=message):
        funnel(_frame(num, den), overdispersion="none")


def test_bad_options():
    d = _frame([1, 2, 3], [10, 10, 10])
    with pytest.raises(GoodPracticeError, match="overdispersion='none'"):
        funnel(d, overdispersion="additive", limits="phe")
    with pytest.raises(GoodPracticeError, match="limits='phe'"):
        funnel(d, limits="poisson", overdispersion="none")
    with pytest.raises(GoodPracticeError, match="kind"):
        funnel(d, kind="odds")
    with pytest.raises(GoodPracticeError, match="columns"):
        funnel(d.rename(columns={"numerator": "n"}))
    with pytest.raises(GoodPracticeError, match="more than once"):
        funnel(pd.concat([d, d]))


# -- properties -------------------------------------------------------------------------------
kinds = st.sampled_from(["proportion", "rate", "ratio"])


@settings(max_examples=60, deadline=None)
@given(kind=kinds, target=st.floats(0.05, 0.9), od=st.sampled_from(["none", "additive"]),
       tau2=st.floats(0, 0.01), lo=st.floats(5, 500), factor=st.floats(1.1, 50))
def test_limits_widen_as_denominator_shrinks(kind, target, od, tau2, lo, factor):
    lim = funnel_limits([lo, lo * factor], target if kind == "proportion" else target * 3, kind,
                        od, tau2=tau2, limits="normal")
    small, big = lim.iloc[0], lim.iloc[1]
    for level in ("95", "998"):
        assert small[f"upper_{level}"] >= big[f"upper_{level}"] - 1e-12
        assert small[f"lower_{level}"] <= big[f"lower_{level}"] + 1e-12


counts = st.lists(st.tuples(st.integers(0, 400), st.integers(1, 600)), min_size=4, max_size=30)


@settings(max_examples=60, deadline=None)
@given(rows=counts, kind=kinds, seed=st.integers(0, 1000),
       trim=st.sampled_from(["winsorise", "truncate"]))
def test_results_do_not_depend_on_row_order(rows, kind, seed, trim):
    num = [min(a, b) if kind == "proportion" else a for a, b in rows]
    den = [b for _, b in rows]
    d = _frame(num, den)
    a = funnel(d, kind=kind, trim=trim).sort_values("unit").reset_index(drop=True)
    shuffled = d.sample(frac=1, random_state=seed)
    b = funnel(shuffled, kind=kind, trim=trim).sort_values("unit").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(rows=counts, kind=kinds, od=st.sampled_from(["none", "additive", "multiplicative"]),
       den=st.integers(1, 10_000))
def test_a_unit_at_the_target_is_never_flagged(rows, kind, od, den):
    d = _frame([min(a, b) for a, b in rows], [b for _, b in rows])
    target = 0.25
    # The extra unit's value equals the target exactly.
    extra = pd.DataFrame({"unit": ["at_target"], "numerator": [target * den],
                          "denominator": [den]})
    out = funnel(pd.concat([d, extra]), kind=kind, overdispersion=od, target=target)
    assert out.loc[out["unit"] == "at_target", "flag"].iloc[0] == "within"
