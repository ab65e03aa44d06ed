"""DEA frontier against DataEnvelopmentAnalysis.jl / R Benchmarking (tests/data/reference/02_dea_radial)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goodpractice.errors import GoodPracticeError
from goodpractice.frontier import frontier, frontier_peers

REF = Path(__file__).parent / "data" / "reference" / "02_dea_radial"
MODELS = {"crs_input": ("crs", "input"), "crs_output": ("crs", "output"),
          "vrs_input": ("vrs", "input"), "vrs_output": ("vrs", "output")}


@pytest.fixture(scope="module")
def fls():
    data = pd.read_csv(REF / "input_fls_11dmu.csv").set_index("dmu")
    expected = pd.read_csv(REF / "expected_efficiency.csv").set_index("dmu")
    detail = json.loads((REF / "expected_peers_lambdas_slacks.json").read_text())
    return data[["x1", "x2"]], data[["y"]], expected, detail


@pytest.mark.parametrize("model", list(MODELS))
def test_efficiencies_match_reference(fls, model):
    x, y, expected, _ = fls
    rts, orientation = MODELS[model]
    got = frontier(x, y, rts=rts, orientation=orientation).set_index("unit")
    # The reference reports output efficiency as phi >= 1, our `radial` column; `efficiency` is 1/phi.
    np.testing.assert_allclose(got["radial"], expected[model], atol=1e-8)
    np.testing.assert_allclose(got["efficiency"] * (got["radial"] if orientation == "output" else 1),
                               1.0 if orientation == "output" else got["radial"], atol=1e-12)


@pytest.mark.parametrize("model", list(MODELS))
def test_slacks_and_peers_match_reference(fls, model):
    x, y, expected, detail = fls
    rts, orientation = MODELS[model]
    got = frontier(x, y, rts=rts, orientation=orientation).set_index("unit")
    slacks = detail["slacks"][model]
    units = list(x.index)
    np.testing.assert_allclose(got["slack_x1"], slacks["slackX1"], atol=1e-6)
    np.testing.assert_allclose(got["slack_x2"], slacks["slackX2"], atol=1e-6)
    np.testing.assert_allclose(got["slack_y"], slacks["slackY"], atol=1e-6)
    checked = 0
    for i, unit in enumerate(units):
        score = expected.loc[unit, model]
        xo, yo = x.loc[unit].to_numpy(), y.loc[unit].to_numpy()
        s_x = np.array([slacks["slackX1"][i], slacks["slackX2"][i]])
        s_y = np.array([slacks["slackY"][i]])
        x_t = (score * xo if orientation == "input" else xo) - s_x
        y_t = (yo if orientation == "input" else score * yo) + s_y
        # Our lambdas always reproduce the slack-adjusted target (the Pareto-efficient point).
        ours = got.loc[unit, "lambdas"]
        np.testing.assert_allclose(sum(v * x.loc[p].to_numpy() for p, v in ours.items()), x_t,
                                   atol=1e-6)
        np.testing.assert_allclose(sum(v * y.loc[p].to_numpy() for p, v in ours.items()), y_t,
                                   atol=1e-6)
        assert got.loc[unit, "peers"] == sorted(ours, key=units.index)
        # Where the reference's lambdas reproduce the same point, the peer set is that one.
        ref = detail["lambda_nonzero_by_dmu"][model][unit]
        ref_x = sum(v * x.loc[p].to_numpy() for p, v in ref.items())
        ref_y = sum(v * y.loc[p].to_numpy() for p, v in ref.items())
        if np.allclose(ref_x, x_t, atol=1e-6) and np.allclose(ref_y, y_t, atol=1e-6):
            assert set(ours) == set(ref), (model, unit)
            for p, v in ref.items():
                assert ours[p] == pytest.approx(v, abs=1e-6)
            checked += 1
    assert checked >= 10  # L's first-stage lambda (itself, with slack) is the one exception


def test_targets_columns(fls):
    x, y, _, _ = fls
    got = frontier(x, y, rts="crs").set_index("unit")
    assert got.loc["B", "target_x1"] == pytest.approx(0.6222896791 * 16, abs=1e-6)
    assert got.loc["F", "target_x1"] == pytest.approx(0.5555555556 * 23 - 4.444444444, abs=1e-6)
    assert not got.loc["L", "efficient"]  # radially efficient but with slack
    assert got.loc["A", "efficient"]


def test_small_reference_cases():
    cases = json.loads((REF / "expected_small_cases.json").read_text())
    c = cases["case_2in_1out_CRS_input"]
    got = frontier(pd.DataFrame(c["X"]), pd.DataFrame({"y": c["Y"]}), rts="crs")
    np.testing.assert_allclose(got["efficiency"], c["expected_eff"], atol=1e-8)
    c = cases["case_1in_2out_CRS_output"]
    got = frontier(pd.DataFrame({"x": c["X"]}), pd.DataFrame(c["Y"]), orientation="output")
    np.testing.assert_allclose(got["radial"], c["expected_eff"], atol=1e-8)
    c = cases["case_1in_1out_CRS_input"]
    got = frontier(pd.DataFrame({"x": c["X"]}), pd.DataFrame({"y": c["Y"]}))
    np.testing.assert_allclose(got["efficiency"], c["expected_eff"], atol=1e-8)
    c = cases["case_weak_disposability"]
    xx, yy = pd.DataFrame({"x": c["X"]}), pd.DataFrame({"y": c["Y"]})
    np.testing.assert_allclose(frontier(xx, yy, rts="vrs")["efficiency"], c["VRS_input_strong"],
                               atol=1e-8)
    np.testing.assert_allclose(frontier(xx, yy, rts="vrs", orientation="output")["radial"],
                               c["VRS_output_strong"], atol=1e-8)


def test_super_efficiency():
    c = json.loads((REF / "expected_small_cases.json").read_text())["case_1in_1out_CRS_input"]
    got = frontier(pd.DataFrame({"x": c["X"]}), pd.DataFrame({"y": c["Y"]}), super_efficiency=True)
    # One input, one output, CRS: efficiency is (y/x) / best (y/x); without the best unit,
    # the best ratio is 8/8 = 1, so its super-efficiency is 1.25 / 1.
    assert got.loc[1, "super_efficiency"] == pytest.approx(1.25, abs=1e-8)
    others = got.drop(index=1)
    np.testing.assert_allclose(others["super_efficiency"], others["efficiency"], atol=1e-8)
    out = frontier(pd.DataFrame({"x": c["X"]}), pd.DataFrame({"y": c["Y"]}),
                   orientation="output", super_efficiency=True)
    assert out.loc[1, "super_efficiency"] == pytest.approx(1.25, abs=1e-8)


def test_super_efficiency_vrs_infeasible_is_nan(fls):
    x, y, _, _ = fls
    got = frontier(x, y, rts="vrs", orientation="output", super_efficiency=True).set_index("unit")
    # I has the largest output: without it no convex combination reaches its output.
    assert np.isnan(got.loc["I", "super_efficiency"]) or got.loc["I", "super_efficiency"] >= 1


def test_peers_long_form(fls):
    x, y, _, _ = fls
    got = frontier(x, y, rts="vrs")
    long = frontier_peers(got)
    assert list(long.columns) == ["unit", "peer", "lambda", "share"]
    b = long[long["unit"] == "B"]
    assert set(b["peer"]) == {"A", "F", "G"} and b["share"].sum() == pytest.approx(1.0)
    assert frontier_peers(got.copy().drop(columns=[])).shape == long.shape


def test_row_order_does_not_change_scores(fls):
    x, y, _, _ = fls
    a = frontier(x, y, rts="vrs").set_index("unit")["efficiency"]
    order = list(reversed(x.index))
    b = frontier(x.loc[order], y.loc[order], rts="vrs").set_index("unit")["efficiency"]
    pd.testing.assert_series_equal(a, b.loc[a.index])


@pytest.mark.parametrize("bad,match", [
    ("zero_input", "inputs must be positive"),
    ("negative_output", "outputs must be >= 0"),
    ("no_output", "no positive output"),
    ("missing", "missing for units"),
    ("mismatch", "same units"),
    ("text", "is not a number"),
    ("infinite_input", "'x1', unit 'C': inf is not a finite number"),
    ("infinite_output", "'y', unit 'C': inf is not a finite number"),
])
def test_bad_input(fls, bad, match):
    x, y, _, _ = fls
    x, y = x.copy(), y.copy().astype(object)
    if bad == "zero_input":
        x.loc["C", "x1"] = 0
    elif bad == "negative_output":
        y.loc["C", "y"] = -1
    elif bad == "no_output":
        y.loc["C", "y"] = 0
    elif bad == "missing":
        x.loc["C", "x1"] = np.nan
    elif bad == "mismatch":
        y = y.drop(index="C")
    elif bad == "text":
        y.loc["C", "y"] = "n/a"
    elif bad == "infinite_input":
        x.loc["C", "x1"] = np.inf
    elif bad == "infinite_output":
        y.loc["C", "y"] = np.inf
    with pytest.raises(GoodPracticeError, match=match):
        frontier(x, y)
    with pytest.raises(GoodPracticeError, match="rts must be"):
        frontier(x, y, rts="drs")
