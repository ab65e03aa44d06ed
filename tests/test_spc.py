"""XmR charts against NHSRplotthedots (case 03): limits, every rule vector, precedence."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodpractice import spc
from goodpractice.errors import GoodPracticeError
from goodpractice.spc import last_signal, xmr

REF = Path(__file__).parent / "data" / "reference" / "03_spc_xmr_nhsr"
RULES = json.loads((REF / "expected_nhsr_rule_unit_tests.json").read_text())
SCEN = json.loads((REF / "expected_nhsr_rnorm20.json").read_text())["scenarios"]
DATA = pd.read_csv(REF / "input_nhsr_rnorm20.csv")


def sig7(x: float) -> float:
    return float(f"{x:.7g}")


def test_r1_defaults_limits_and_common_cause():
    e = SCEN["r1_default"]
    out = xmr(DATA["y"], periods=DATA["x"])
    assert sig7(out.attrs["mean"]) == e["mean_col"]
    assert sig7(out.attrs["lpl"]) == e["lpl"]
    assert sig7(out.attrs["upl"]) == e["upl"]
    assert (out["point_type"] == "common_cause").sum() == e["common_cause"] == len(out)
    assert out["relative_to_mean"].head(15).tolist() == e["relative_to_mean_first15"]
    assert out["outside_limits"].head(5).tolist() == e["outside_limits_first5"]
    assert out["close_to_limits"].head(5).tolist() == e["close_to_limits_first5"]


@pytest.mark.parametrize("name, screen", [("r2_point15_set_to_10_screened", True),
                                          ("r3_point15_set_to_10_unscreened", False)])
def test_outlier_screening(name, screen):
    e = SCEN[name]
    y = DATA["y"].copy()
    y.iloc[14] = 10
    out = xmr(y, screen_outliers=screen)
    assert sig7(out.attrs["mean"]) == e["mean_col"]
    assert sig7(out.attrs["lpl"]) == e["lpl"]
    assert sig7(out.attrs["upl"]) == e["upl"]
    if "relative_to_mean_first14" in e:
        assert out["relative_to_mean"].head(14).tolist() == e["relative_to_mean_first14"]
    assert out["rule"].iloc[14] == "above_ucl"


def test_facets_printed_to_three_figures():
    for facet, e in SCEN["facet_split_10_10"]["printed_3sf"].items():
        out = xmr(DATA.loc[DATA["facet"] == int(facet), "y"])
        for key, mine in (("mean_col", "mean"), ("lpl", "lpl"), ("upl", "upl")):
            assert float(f"{out.attrs[mine]:.3g}") == e[key]
        assert (out["variation"] == "common").sum() == e["common_cause"]


def test_baseline_fixes_the_limits():
    # Rebasing before the first point leaves one group: the same as r1 (printed to 3 s.f.).
    e = SCEN["rebase_2020_01_01"]
    out = xmr(DATA["y"], baseline=20)
    assert float(f"{out.attrs['mean']:.3g}") == e["mean_col_3sf"]
    # A shorter baseline uses only its own points for the mean.
    assert xmr(DATA["y"], baseline=10).attrs["mean"] == pytest.approx(DATA["y"][:10].mean())


@pytest.mark.parametrize("case", RULES["seven_point_one_side_mean"]["cases"])
def test_rule_seven_one_side(case):
    assert spc.seven_point_one_side_mean(case["in"]).tolist() == case["out"]


@pytest.mark.parametrize("case", RULES["part_of_seven_trend"]["cases"])
def test_rule_part_of_seven(case):
    assert spc.part_of_seven(case["in"]).tolist() == case["out"]


@pytest.mark.parametrize("case", RULES["seven_point_trend"]["cases"])
def test_rule_seven_point_trend(case):
    assert spc.seven_point_trend(case["in"]).tolist() == case["out"]


@pytest.mark.parametrize("case", RULES["two_in_three"]["cases"])
def test_rule_two_in_three(case):
    assert spc.two_in_three(case["v"], case["rtm"]).tolist() == case["out"]


@pytest.mark.parametrize("case", RULES["part_of_two_in_three"]["cases"])
def test_rule_part_of_two_in_three(case):
    got = spc.part_of_two_in_three(spc.two_in_three(case["v"], case["rtm"]), case["v"])
    assert got.tolist() == case["out"]


def test_two_in_three_opposite_sides_stay_common():
    case = RULES["integration_two_in_three_opposite_sides"]
    out = xmr(case["input"])
    assert out["point_type"].tail(2).tolist() == case["expected_point_type_last2"]


def test_precedence_and_direction():
    # 7 rising points that end beyond the upper limit: the last is "above_ucl", the rest a trend.
    y = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 4.0]
    out = xmr(y, improvement="decrease")
    assert out["rule"].iloc[-1] == "above_ucl"
    assert set(out["rule"].iloc[10:16]) == {"trend_increasing"}
    assert (out["variation"].iloc[10:] == "concern").all()
    assert out["point_type"].iloc[-1] == "special_cause_concern"
    up = xmr(y, improvement="increase")
    assert (up["variation"].iloc[10:] == "improvement").all()
    neutral = xmr(y)
    assert neutral["point_type"].iloc[-1] == "special_cause_neutral_high"
    assert neutral["variation"].iloc[-1] == "neutral"


def test_shift_flags_every_point_of_the_run():
    y = [5, 6, 5, 6, 5, 6, 5, 6, 7, 7.2, 7.1, 7.3, 7.2, 7.1, 7.2]
    out = xmr(y, improvement="increase")
    assert set(out["rule"].iloc[8:]) == {"shift_above"}
    assert (out["variation"].iloc[8:] == "improvement").all()


@pytest.mark.parametrize("improvement, target, expected", [
    ("increase", -5, "consistent_pass"), ("increase", 5, "consistent_fail"),
    ("decrease", -5, "consistent_fail"), ("decrease", 5, "consistent_pass"),
    ("increase", 0.1, "inconsistent"), (None, 5, None),
])
def test_assurance(improvement, target, expected):
    out = xmr(DATA["y"], improvement=improvement, target=target)
    assert out.attrs["assurance"] == expected
    assert (out["assurance"].isna() if expected is None else out["assurance"] == expected).all()


def test_series_index_becomes_periods():
    s = pd.Series([1.0, 2.0, 1.5, 2.5], index=["2024-01", "2024-02", "2024-03", "2024-04"])
    assert xmr(s)["period"].tolist() == list(s.index)


@pytest.mark.parametrize("values, message", [
    ([1.0, 2.0], "at least 3 points"),
    ([3.0, 3.0, 3.0, 3.0], "identical"),
    ([1.0, np.nan, 2.0, 3.0], "period 2 .*missing"),
])
def test_bad_series(values, message):
    with pytest.raises(GoodPracticeError, match=message):
        xmr(values)


def test_bad_options():
    with pytest.raises(GoodPracticeError, match="improvement"):
        xmr([1, 2, 3], improvement="up")
    with pytest.raises(GoodPracticeError, match="baseline"):
        xmr([1, 2, 3, 4], baseline=2)
    with pytest.raises(GoodPracticeError, match="periods"):
        xmr([1, 2, 3], periods=["a", "b"])


@settings(max_examples=200, deadline=None)
@given(y=st.lists(st.integers(-20, 20), min_size=3, max_size=40),
       improvement=st.sampled_from(["increase", "decrease", None]))
def test_last_signal_equals_the_full_chart(y, improvement):
    # compare's fast path for the last point must agree with the full chart.
    y = np.array(y, dtype=float)
    try:
        expected = xmr(y, improvement=improvement)["variation"].iloc[-1]
    except GoodPracticeError:
        expected = "no_variation"
    assert last_signal(y, improvement) == expected
