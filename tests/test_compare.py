"""The four comparators: pooled peer and national values, exact tests, travel, SPC and targets."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import goodpractice as gp
from goodpractice.compare import COLUMNS, binom_test, compare, fisher_test
from goodpractice.errors import GoodPracticeError
from goodpractice.peers import peers


def _panel(targets=None, n_units=10, months=30, seed=1):
    rng = np.random.default_rng(seed)
    units = pd.DataFrame({"unit": [f"u{i:02d}" for i in range(n_units)],
                          "name": [f"Unit {i}" for i in range(n_units)],
                          "level": "borough", "parent": "",
                          "population": rng.integers(100_000, 400_000, n_units),
                          "density": rng.uniform(1000, 9000, n_units)})
    periods = [f"{2022 + m // 12}-{m % 12 + 1:02d}" for m in range(months)]
    rows = []
    for i, u in enumerate(units["unit"]):
        pop = int(units["population"][i])
        for t, p in enumerate(periods):
            crimes = rng.poisson(pop * (0.001 + 0.0001 * i))
            rows.append((u, p, "burglary", crimes, pop))
            solved = rng.binomial(max(crimes, 1), 0.1 + 0.02 * i + (0.1 if t == months - 1 else 0))
            rows.append((u, p, "solved", solved, max(crimes, 1)))
            rows.append((u, p, "solved_bad", solved, max(crimes, 1)))
    outcomes = pd.DataFrame(rows, columns=["unit", "period", "indicator", "numerator",
                                           "denominator"])
    indicators = pd.DataFrame({
        "indicator": ["burglary", "solved", "solved_bad"],
        "label": ["Burglary", "Solved", "Solved (reversed)"],
        "kind": ["rate", "proportion", "proportion"],
        "higher_is_better": [False, True, False], "multiplier": [1000, 100, 100]})
    return gp.from_frames(units=units, outcomes=outcomes, indicators=indicators, targets=targets)


@pytest.fixture(scope="module")
def panel():
    return _panel()


def test_columns_and_one_row_per_unit(panel):
    out = compare(panel, "burglary", "2024-06")
    assert list(out.columns) == COLUMNS
    assert len(out) == 10 and out["unit"].is_unique
    assert out["yoy_period"].iloc[0] == "2023-06" and out["prev_period"].iloc[0] == "2024-05"
    for col in ("peer_verdict", "national_verdict", "trend_verdict", "spc_signal",
                "target_status"):
        assert out[col].notna().all()


def test_peer_and_national_values_are_pooled(panel):
    out = compare(panel, "burglary", "2024-06", k=3).set_index("unit")
    cur = panel.outcomes.query("indicator == 'burglary' and period == '2024-06'").set_index("unit")
    for unit, group in peers(panel, k=3).groupby("unit")["peer"]:
        pooled = cur.loc[list(group), "numerator"].sum() / cur.loc[list(group), "denominator"].sum()
        assert out.loc[unit, "peer_value"] == pytest.approx(pooled * 1000)
        assert out.loc[unit, "peers"] == ", ".join(group)
    national = cur["numerator"].sum() / cur["denominator"].sum() * 1000
    assert np.allclose(out["national_value"], national)


def test_rate_tests_equal_scipy_conditional_binomial(panel):
    out = compare(panel, "burglary", "2024-06", k=3).set_index("unit")
    cur = panel.outcomes.query("indicator == 'burglary' and period == '2024-06'").set_index("unit")
    prev = panel.outcomes.query("indicator == 'burglary' and period == '2024-05'").set_index("unit")
    for unit, group in peers(panel, k=3).groupby("unit")["peer"]:
        o, n = cur.loc[unit, "numerator"], cur.loc[unit, "denominator"]
        og = cur.loc[list(group), "numerator"].sum()
        ng = cur.loc[list(group), "denominator"].sum()
        ref = stats.binomtest(int(o), int(o + og), n / (n + ng)).pvalue
        assert out.loc[unit, "peer_p"] == pytest.approx(ref, rel=1e-6, abs=1e-300)
        o0, n0 = prev.loc[unit, "numerator"], prev.loc[unit, "denominator"]
        ref = stats.binomtest(int(o), int(o + o0), n / (n + n0)).pvalue
        assert out.loc[unit, "prev_p"] == pytest.approx(ref, rel=1e-6, abs=1e-300)
        rest_o, rest_n = cur["numerator"].sum() - o, cur["denominator"].sum() - n
        ref = stats.binomtest(int(o), int(o + rest_o), n / (n + rest_n)).pvalue
        assert out.loc[unit, "national_p"] == pytest.approx(ref, rel=1e-6, abs=1e-300)


def test_proportion_tests_equal_scipy_binomial_and_fisher(panel):
    out = compare(panel, "solved", "2024-06", k=3).set_index("unit")
    cur = panel.outcomes.query("indicator == 'solved' and period == '2024-06'").set_index("unit")
    yoy = panel.outcomes.query("indicator == 'solved' and period == '2023-06'").set_index("unit")
    for unit, group in peers(panel, k=3).groupby("unit")["peer"]:
        o, n = int(cur.loc[unit, "numerator"]), int(cur.loc[unit, "denominator"])
        p = cur.loc[list(group), "numerator"].sum() / cur.loc[list(group), "denominator"].sum()
        assert out.loc[unit, "peer_p"] == pytest.approx(stats.binomtest(o, n, p).pvalue, rel=1e-6)
        o0, n0 = int(yoy.loc[unit, "numerator"]), int(yoy.loc[unit, "denominator"])
        ref = stats.fisher_exact([[o, n - o], [o0, n0 - o0]]).pvalue
        assert out.loc[unit, "yoy_p"] == pytest.approx(ref, rel=1e-6)


def test_direction_respects_higher_is_better(panel):
    good = compare(panel, "solved", "2024-06").set_index("unit")
    bad = compare(panel, "solved_bad", "2024-06").set_index("unit")
    swap = {"better": "worse", "worse": "better", "similar": "similar",
            "improving": "deteriorating", "deteriorating": "improving", "no_change": "no_change",
            "improvement": "concern", "concern": "improvement", "common": "common"}
    for col in ("peer_verdict", "national_verdict", "trend_verdict", "spc_signal"):
        assert (bad[col] == good[col].map(swap)).all(), col
    # The planted jump in the last month: higher solved rates than a year before for most units.
    assert (good["trend_verdict"] == "improving").sum() >= 3
    sig = good[good["peer_p"] < 0.05]
    assert ((sig["value"] > sig["peer_value"]) == (sig["peer_verdict"] == "better")).all()


def test_first_period_has_no_travel(panel):
    out = compare(panel, "burglary", "2022-01")
    assert (out["trend_verdict"] == "no_data").all()
    assert (out["spc_signal"] == "insufficient_data").all()


def test_targets_met_missed_and_projected():
    targets = pd.DataFrame({
        "indicator": ["solved", "solved", "burglary"], "unit": [None, "u09", None],
        "period": ["2024-06", "2024-06", "2025-06"], "kind": ["at_least", "at_most",
                                                               "reduce_by_pct"],
        "value": [20.0, 5.0, 50.0], "baseline_period": [None, None, "2023-06"],
        "source": ["test", "test", "test"]})
    panel = _panel(targets=targets)
    out = compare(panel, ["solved", "burglary"], "2024-06").set_index(["indicator", "unit"])
    solved = out.loc["solved"]
    for unit, row in solved.iterrows():
        if unit == "u09":  # its own target overrides the one for everybody
            assert row["target_value"] == 5.0
            assert row["target_status"] == ("met" if row["value"] <= 5 else "missed")
        else:
            assert row["target_value"] == 20.0
            assert row["target_status"] == ("met" if row["value"] >= 20 else "missed")
    burg = out.loc["burglary"]
    rates = panel.rates("burglary").pivot(index="unit", columns="period", values="rate")
    for unit, row in burg.iterrows():
        assert row["target_value"] == pytest.approx(rates.loc[unit, "2023-06"] * 0.5)
        series = rates.loc[unit, "2023-06":"2024-06"]
        slope, icept = np.polyfit(np.arange(len(series)), series.to_numpy(), 1)
        projected = icept + slope * (len(series) - 1 + 12)
        assert row["target_projection"] == pytest.approx(projected, rel=1e-6)
        expected = "on_track" if projected <= row["target_value"] else "off_track"
        assert row["target_status"] == expected


def test_bad_calls(panel):
    with pytest.raises(GoodPracticeError, match="period '1999-01'"):
        compare(panel, "burglary", "1999-01")
    with pytest.raises(GoodPracticeError, match="needs at least 11 units"):
        compare(panel, "burglary", "2024-06", k=10)
    with pytest.raises(GoodPracticeError, match="unknown indicator"):
        compare(panel, "murder", "2024-06")
    with pytest.raises(GoodPracticeError, match="alpha"):
        compare(panel, "burglary", "2024-06", alpha=5)


def test_unit_without_context_is_named():
    panel = _panel()
    panel.units.loc[2, "density"] = np.nan
    with pytest.raises(GoodPracticeError, match="u02.*'density'"):
        compare(panel, "burglary", "2024-06", variables=["population", "density"])


# -- the vectorised exact tests against scipy -------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 200_000), p=st.floats(0.001, 0.999), frac=st.floats(0, 1))
def test_binom_test_equals_scipy(n, p, frac):
    k = round(frac * n)
    assert binom_test(k, n, p)[0] == pytest.approx(stats.binomtest(k, n, p).pvalue,
                                                   rel=1e-6, abs=1e-300)


@settings(max_examples=150, deadline=None)
@given(t=st.tuples(*[st.integers(0, 3000)] * 4))
def test_fisher_test_equals_scipy(t):
    a, b, c, d = t
    ref = stats.fisher_exact([[a, b], [c, d]]).pvalue
    assert fisher_test(a, b, c, d)[0] == pytest.approx(ref, rel=1e-6, abs=1e-300)


# -- end to end on the embedded real datasets -------------------------------------------------
def test_london_burglary_every_borough_2024_01():
    panel = gp.load_example("london")
    out = compare(panel, "crime_burglary", "2024-01")
    assert len(out) == 32 and out["unit"].is_unique
    assert (out["n_peers"] == 7).all()
    assert out["yoy_period"].iloc[0] == "2023-01"
    assert out[["value", "peer_value", "peer_p", "national_value", "national_p"]].notna().all().all()
    assert set(out["peer_verdict"]) <= {"better", "worse", "similar"}
    assert set(out["spc_signal"]) <= {"improvement", "concern", "common"}
    # The example carries a burglary target for 2024-01 (reduce by 2% on a year earlier).
    assert set(out["target_status"]) <= {"met", "missed"}
    # Burglary: lower is better, so a significantly lower rate than the peers is "better".
    better = out[out["peer_verdict"] == "better"]
    assert (better["value"] < better["peer_value"]).all()


def test_forces_every_indicator_2017_18():
    panel = gp.load_example("forces")
    out = compare(panel, None, "2017-18")
    have = panel.outcomes[panel.outcomes["period"] == "2017-18"]
    assert len(out) == len(have)
    assert set(out["indicator"]) == set(have["indicator"])
    charge = out[out["indicator"] == "charge_rate"]
    assert (charge["trend_verdict"] == "no_data").all()  # charge outcomes start in 2017-18


def test_a_passed_target_is_judged_on_its_own_period():
    # Targets for 2024-03 only; compared in 2024-06, the verdict is about the value in 2024-03
    # (as targets() reports it), not about whatever the value is three months later.
    panel = _panel()
    rates = panel.rates("solved").pivot(index="unit", columns="period", values="rate")
    # A level between the units' 2024-03 and 2024-06 values, so the two readings disagree.
    level = float(rates["2024-03"].median())
    targets = pd.DataFrame({"indicator": ["solved"], "unit": [None], "period": ["2024-03"],
                            "kind": ["at_least"], "value": [level], "baseline_period": [None],
                            "source": ["test"]})
    panel = _panel(targets=targets)
    out = compare(panel, "solved", "2024-06").set_index("unit")
    for unit, row in out.iterrows():
        then = rates.loc[unit, "2024-03"]
        assert row["target_status"] == ("met" if then >= level else "missed"), unit
        assert row["target_projection"] == pytest.approx(then)
    ev = gp.targets(panel, "2024-06", indicator="solved", scope="units").set_index("unit")
    assert ((out["target_status"] == "met") == (ev.loc[out.index, "status"] == "met")).all()


def test_national_verdict_needs_other_units():
    # Only one unit reports in the period: there is nothing to test it against, so the national
    # comparator must say so rather than call the unit 'similar'.
    panel = _panel(n_units=9)
    keep = ~((panel.outcomes["period"] == "2024-06") & (panel.outcomes["unit"] != "u00"))
    panel = gp.from_frames(units=panel.units, outcomes=panel.outcomes[keep],
                           indicators=panel.indicators)
    out = compare(panel, "burglary", "2024-06", k=3)
    assert list(out["unit"]) == ["u00"]
    assert out["national_verdict"].iloc[0] == "no_data"
    assert np.isnan(out["national_p"].iloc[0])
    assert out["peer_verdict"].iloc[0] == "no_peers"


def test_an_indicator_that_is_not_counts_is_not_tested():
    # Crime severity numerators are harm-weighted scores: exact count tests would overstate
    # their precision, so compare gives no p-values and says why.
    forces = gp.load_example("forces")
    severity = compare(forces, "crime_severity", "2017-18")
    assert len(severity) == 42
    assert severity[["peer_p", "national_p", "prev_p", "yoy_p"]].isna().all().all()
    for column in ("peer_verdict", "national_verdict", "prev_verdict", "yoy_verdict"):
        assert set(severity[column]) == {"not_tested"}, column
    assert severity["value"].notna().all()
    counts = compare(forces, "crime_total", "2017-18")
    assert counts["national_p"].notna().all()
    assert set(counts["national_verdict"]) <= {"better", "worse", "similar"}
