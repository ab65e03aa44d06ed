"""classify: DESIGN 4.7 rules hold row by row, the fast XmR equals spc.xmr, bad input is clear."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import goodpractice as gp
from goodpractice.classify import (CATEGORIES, COLUMNS, OVERALL, classify, classify_overall,
                                   xmr_variation)
from goodpractice.errors import GoodPracticeError
from goodpractice.funnel import Z95, funnel
from goodpractice.simulate import Scenario, simulate_panel
from goodpractice.spc import xmr


@pytest.fixture(scope="module")
def sim():
    return simulate_panel(Scenario(n_units=200, n_periods=30), seed=11)


@pytest.fixture(scope="module")
def table(sim):
    return classify(sim.panel, indicator="outcome", period=sim.period)


@pytest.fixture(scope="module")
def london():
    return gp.load_example("london")


# -- the vectorised XmR is spc.xmr ----------------------------------------------------------
def _series(rng, i, t):
    y = rng.normal(size=t)
    kind = i % 5
    if kind == 1:
        y = np.round(y * 2)  # ties break trends and runs
    elif kind == 2:
        y = np.cumsum(rng.normal(0.3, 1, size=t))  # trends
    elif kind == 3:
        y = y + np.r_[np.zeros(t // 2), np.full(t - t // 2, 1.5)]  # shifts
    elif kind == 4:
        y[rng.integers(0, t)] += 8  # outliers and screening
    return y


@pytest.mark.parametrize("improvement", ["increase", "decrease"])
def test_xmr_variation_equals_spc_xmr(improvement):
    rng = np.random.default_rng(2024)
    checked = 0
    for t in (3, 7, 12, 20, 36):
        batch = np.array([_series(rng, i, t) for i in range(150)])
        fast = xmr_variation(batch, improvement)
        for row, got in zip(batch, fast, strict=True):
            try:
                chart = xmr(row, improvement=improvement)
            except GoodPracticeError:
                assert not got.any()  # no variation: no signal either way
                continue
            want = chart["variation"].map({"improvement": 1, "concern": -1, "common": 0})
            np.testing.assert_array_equal(got, want.to_numpy())
            checked += 1
    assert checked > 700


def test_xmr_variation_rows_with_gaps_are_left_to_the_caller():
    y = np.array([[1.0, 2.0, np.nan, 4.0, 5.0], [1.0, 2.0, 1.0, 2.0, 9.0]])
    out = xmr_variation(y, "increase")
    assert not out[0].any()
    want = xmr(y[1], improvement="increase")["variation"].map(
        {"improvement": 1, "concern": -1, "common": 0})
    np.testing.assert_array_equal(out[1], want.to_numpy())


# -- the rules hold row by row --------------------------------------------------------------
def test_columns_and_categories(table, sim):
    assert list(table.columns) == COLUMNS
    assert set(table["category"]) <= set(CATEGORIES)
    assert len(table) == sim.scenario.n_units
    assert set(table["trend"]) <= {"improving", "deteriorating", "stable"}


def test_every_row_follows_the_documented_rules(table):
    t = table
    better998 = t["flag"] == "high_998"  # the simulated indicator: higher is better
    worse998 = t["flag"] == "low_998"
    worse95 = t["z"] < -Z95
    better95 = t["z"] > Z95
    below_peers = t["value"] < t["peer_median"]
    det, imp = t["trend"] == "deteriorating", t["trend"] == "improving"
    resourced = t["resource_intensity"] >= t["peer_resource_median"]
    top = better998 & ~det
    poor = worse998 | (worse95 & below_peers & det)
    coasting = ~top & ~poor & ~better95 & ~imp & resourced
    expected = np.select([top, poor, coasting], ["top", "poor", "coasting"], "typical")
    assert (t["category"] == expected).all()
    assert t["category"].nunique() == 4  # the simulated panel exercises every category
    assert (t["alert"] == t["flag"].isin(["high_95", "low_95"])).all()


def test_pooled_counts_and_z_match_the_public_funnel(table, sim):
    window = sorted(sim.panel.outcomes["period"].unique())[-12:]
    rows = sim.panel.outcomes[sim.panel.outcomes["period"].isin(window)]
    pooled = rows.groupby("unit")[["numerator", "denominator"]].sum()
    t = table.set_index("unit")
    np.testing.assert_allclose(t["observed"], pooled["numerator"].reindex(t.index))
    np.testing.assert_allclose(t["denominator"], pooled["denominator"].reindex(t.index))
    np.testing.assert_allclose(t["value"], t["observed"] / t["denominator"] * 100)
    ref = funnel(pd.DataFrame({"unit": t.index, "observed": t["observed"].to_numpy(),
                               "expected": t["expected_count"].to_numpy()}),
                 kind="ratio", trim_by=0.05).set_index("unit")
    np.testing.assert_allclose(t["z"], ref["z"])
    assert (t["flag"] == ref["flag"]).all()
    assert (t["lower_998"] < t["expected"]).all() and (t["expected"] < t["upper_998"]).all()


def test_reason_cites_the_numbers(table):
    for r in table.itertuples():
        assert r.reason.startswith(r.category.capitalize() + ":")
        assert f"z = {r.z:.1f}" in r.reason or f"z = {r.z:.2f}" in r.reason
        assert f"{r.value:.1f}%" in r.reason
    top = table[table["category"] == "top"]
    assert top["reason"].str.contains("beyond the 99.8% limit after over-dispersion").all()


def test_z_text_never_rounds_across_a_limit():
    from goodpractice.classify import z_text

    assert z_text(3.085) == "3.08" and z_text(3.2) == "3.2" and z_text(-1.955) == "-1.96"
    assert z_text(1.5) == "1.5"


def test_direction_respects_higher_is_better(sim):
    flipped = gp.from_frames(
        units=sim.panel.units, outcomes=sim.panel.outcomes, resources=sim.panel.resources,
        indicators=sim.panel.indicators.assign(higher_is_better=False), frequency="monthly")
    a = classify(sim.panel, indicator="outcome", period=sim.period).set_index("unit")
    b = classify(flipped, indicator="outcome", period=sim.period).set_index("unit")
    hi = a["flag"] == "high_998"
    assert hi.any()
    # Far above expected is top when higher is better and poor when lower is better.
    assert (b.loc[hi, "category"] == "poor").all()
    assert (a.loc[a["category"] == "poor", "flag"].isin(["low_998", "low_95"])).all()
    assert (b.loc[b["category"] == "top", "flag"] == "low_998").all()


def test_row_order_does_not_change_a_verdict(sim, table):
    shuffled = gp.from_frames(
        units=sim.panel.units.sample(frac=1, random_state=1),
        outcomes=sim.panel.outcomes.sample(frac=1, random_state=2),
        resources=sim.panel.resources.sample(frac=1, random_state=3),
        indicators=sim.panel.indicators, frequency="monthly")
    again = classify(shuffled, indicator="outcome", period=sim.period)
    pd.testing.assert_frame_equal(again, table)


# -- coasting without resources, overall rows ------------------------------------------------------
def test_london_without_resources(london):
    t = classify(london, indicator=["crime_burglary", "crime_robbery"], period="2023-12")
    per = t[t["indicator"] != OVERALL]
    assert len(per) == 64 and (t["indicator"] == OVERALL).sum() == 32
    coasting = per[per["category"] == "coasting"]
    assert len(coasting) > 0
    # The documented proxy: within limits, not improving, no better than the peer median.
    assert (coasting["value"] >= coasting["peer_median"]).all()  # lower is better for crime
    assert coasting["reason"].str.contains("no resource data, so judged on results alone").all()
    strict = classify(london, indicator=["crime_burglary", "crime_robbery"], period="2023-12",
                      coasting_without_resources="typical")
    assert "coasting" not in set(strict["category"])


def test_overall_rows(london):
    t = classify(london, indicator=["crime_burglary", "crime_robbery", "crime_theft"],
                 period="2023-12")
    per = t[t["indicator"] != OVERALL]
    overall = t[t["indicator"] == OVERALL].set_index("unit")
    assert set(overall["category"]) <= set(CATEGORIES)
    for unit, g in per.groupby("unit"):
        cats = list(g["category"])
        got = overall.loc[unit, "category"]
        if "poor" in cats:
            assert got == "poor"
            worst = g.loc[g["category"] == "poor", "z"].abs().max()
            assert abs(overall.loc[unit, "z"]) == worst
        elif cats.count("top") and cats.count("top") >= cats.count("coasting"):
            assert got == "top"
        elif cats.count("coasting") * 2 >= len(cats):
            assert got == "coasting"
        else:
            assert got == "typical"


def test_a_given_peer_table_is_used_up_to_k(london):
    from goodpractice.peers import peers

    args = dict(indicator=["crime_burglary", "crime_robbery"], period="2023-12")
    seven = peers(london, k=7)
    # Its first 3 ranks give what k=3 finds itself.
    pd.testing.assert_frame_equal(classify(london, k=3, peer_table=seven, **args),
                                  classify(london, k=3, **args))
    # A made-up table is followed: every unit's one peer is Westminster (Westminster's, Camden).
    units = london.units["unit"].tolist()
    made = pd.DataFrame({"unit": units, "rank": 1,
                         "peer": ["camden" if u == "westminster" else "westminster" for u in units]})
    t = classify(london, k=1, peer_table=made, **args)
    per = t[t["indicator"] != OVERALL].set_index(["indicator", "unit"])
    for (ind, unit), row in per.iterrows():
        peer = "camden" if unit == "westminster" else "westminster"
        assert row["peer_median"] == pytest.approx(per.loc[(ind, peer), "value"])
    with pytest.raises(GoodPracticeError, match="peer_table lacks column"):
        classify(london, peer_table=made.drop(columns="rank"), **args)


def test_classifying_with_a_given_peer_table_imports_neither_sklearn_nor_scipy_stats(tmp_path):
    # What a batch's challenge rounds rely on: each month's review classifies a new month with
    # the batch's cached peers, and so needs neither library (0.7 s to import in a kernel).
    from goodpractice.peers import peers

    table = tmp_path / "peers.pkl"
    peers(gp.load_example("london")).to_pickle(table)
    code = textwrap.dedent(f"""
        import sys
        import pandas as pd
        import goodpractice as gp
        from goodpractice.classify import classify
        t = classify(gp.load_example("london"), period="2023-12",
                     peer_table=pd.read_pickle({str(table)!r}))
        assert len(t) > 0
        print(sorted(m for m in ("sklearn", "scipy.stats") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_overall_rules_on_a_hand_made_table():
    def row(unit, indicator, category, z, trend="stable", alert=False, flag="complete"):
        return {"unit": unit, "indicator": indicator, "period": "2023-12", "category": category,
                "z": z, "trend": trend, "alert": alert, "data_flag": flag}

    table = pd.DataFrame([
        # poor on two: the overall z is the more adverse one; listed by |z|, largest first
        row("a", "burglary", "poor", 2.5), row("a", "robbery", "poor", -3.4),
        row("a", "theft", "top", -2.2, trend="improving"),
        # top on one, coasting on one: top; a top indicator without a z does not stop it
        row("b", "burglary", "top", np.nan), row("b", "robbery", "top", -2.1, alert=np.nan),
        row("b", "theft", "coasting", 0.4, trend="deteriorating", flag="partial_window"),
        # coasting on half: coasting; equal |z| - the first row is the driver
        row("c", "burglary", "coasting", 0.5), row("c", "robbery", "coasting", -0.5),
        row("c", "theft", "typical", 1.0, alert=True),
        # typical on all three, two improving
        row("d", "burglary", "typical", 0.1, trend="improving"),
        row("d", "robbery", "typical", -1.9, trend="improving"), row("d", "theft", "typical", 0.3),
        # no outcomes at all
        row("e", "burglary", "typical", np.nan, flag="no_outcomes"),
    ])
    got = classify_overall(table).set_index("unit")
    assert list(got.index) == ["a", "b", "c", "d", "e"]
    assert list(got["category"]) == ["poor", "top", "coasting", "typical", "typical"]
    assert got.loc["a", "z"] == -3.4
    assert got.loc["a", "reason"] == (
        "Poor overall across 3 indicators (top on 1; poor on 2). Poor: robbery (z = -3.4), "
        "burglary (z = 2.5). Top: theft (z = -2.2).")
    assert got.loc["b", "z"] == -2.1 and got.loc["b", "alert"] == False  # noqa: E712 - NaN is no alert
    assert got.loc["b", "reason"].endswith("Top: robbery (z = -2.1), burglary (z = nan). "
                                           "Coasting: theft (z = 0.4).")
    assert got.loc["b", "data_flag"] == "partial_window" and got.loc["b", "trend"] == "deteriorating"
    assert got.loc["c", "z"] == 0.5 and got.loc["c", "alert"] == True  # noqa: E712
    assert got.loc["d", "z"] == -1.9 and got.loc["d", "trend"] == "improving"
    assert got.loc["d", "trend_signals"] == 2
    assert got.loc["e", "data_flag"] == "no_outcomes" and got.loc["e", "reason"].startswith("Not judged")


# -- bad input ------------------------------------------------------------------------------------
def _small_panel(periods=14, drop_unit=None, drop_periods=()):
    rng = np.random.default_rng(5)
    units = pd.DataFrame({"unit": [f"u{i:02d}" for i in range(12)],
                          "name": [f"Unit {i}" for i in range(12)], "level": "unit", "parent": "",
                          "population": rng.integers(1000, 9000, 12).astype(float),
                          "density": rng.uniform(1, 9, 12)})
    labels = [f"2023-{m:02d}" for m in range(1, 13)] + [f"2024-{m:02d}" for m in range(1, 13)]
    rows = []
    for u in units["unit"]:
        for p in labels[:periods]:
            if u == drop_unit or (u == "u01" and p in drop_periods):
                continue
            n = int(rng.integers(200, 800))
            rows.append({"unit": u, "period": p, "indicator": "rate", "numerator":
                         float(rng.binomial(n, 0.2)), "denominator": float(n)})
    inds = pd.DataFrame({"indicator": ["rate"], "label": ["Solved rate"], "kind": ["proportion"],
                         "higher_is_better": [True], "multiplier": [100.0]})
    return gp.from_frames(units=units, outcomes=pd.DataFrame(rows), indicators=inds)


def test_window_longer_than_series_is_a_clear_error():
    panel = _small_panel(periods=8)
    message = r"window of 12 months.*starts at 2023-01.*window=8"
    with pytest.raises(GoodPracticeError, match=message):
        classify(panel, indicator="rate", period="2023-08")
    assert len(classify(panel, indicator="rate", period="2023-08", window=8)) == 12


def test_unknown_period_and_bad_parameters():
    panel = _small_panel()
    with pytest.raises(GoodPracticeError, match="period '2030-01'"):
        classify(panel, indicator="rate", period="2030-01")
    with pytest.raises(GoodPracticeError, match="window"):
        classify(panel, indicator="rate", window=0)
    with pytest.raises(GoodPracticeError, match="k must be"):
        classify(panel, indicator="rate", k=0)
    with pytest.raises(GoodPracticeError, match="coasting_without_resources"):
        classify(panel, indicator="rate", coasting_without_resources="maybe")
    with pytest.raises(gp.PanelFormatError, match="unknown indicator"):
        classify(panel, indicator="nope")


def test_unit_without_outcomes_and_missing_periods_are_flagged():
    panel = _small_panel(drop_unit="u03", drop_periods=("2023-06", "2023-07"))
    t = classify(panel, indicator="rate", period="2024-02", window=12).set_index("unit")
    assert t.loc["u03", "data_flag"] == "no_outcomes"
    assert t.loc["u03", "reason"].startswith("Not judged: no Solved rate outcomes")
    assert np.isnan(t.loc["u03", "z"])
    assert t.loc["u01", "data_flag"] == "partial_window"
    assert t.loc["u01", "periods_pooled"] == 10
    assert "Pooled over 10 of 12 months" in t.loc["u01", "reason"]
    assert (t.drop(index=["u01", "u03"])["data_flag"] == "complete").all()
