"""The simulation: classify finds planted outliers and flags few ordinary units; naive rules do not.

Fixed seeds, margins that can fail. The default scenario: 400 units, lognormal sizes (about a
hundredfold spread), over-dispersion tau = 0.10 on the log scale, 3% planted each way at 4 tau.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goodpractice.errors import GoodPracticeError
from goodpractice.simulate import Scenario, evaluate, oracle, score, simulate_panel


@pytest.fixture(scope="module")
def results():
    return evaluate(Scenario(), seeds=range(6)).set_index("method")


def test_simulation_is_reproducible_and_planted():
    a, b = simulate_panel(Scenario(n_units=120), seed=4), simulate_panel(Scenario(n_units=120), 4)
    pd.testing.assert_frame_equal(a.panel.outcomes, b.panel.outcomes)
    counts = a.truth["truth"].value_counts()
    assert counts["high"] == counts["low"] == round(0.03 * 120)
    sizes = a.truth["denominator"]
    assert sizes.max() / sizes.min() > 30  # very different sizes
    planted = a.truth[a.truth["truth"] != "null"]
    assert np.allclose(planted["effect"].abs(), 4 * 0.10)


def test_classify_close_to_the_oracle(results):
    c, o = results.loc["classify"], results.loc["oracle"]
    assert c["f1"] >= 0.95 * o["f1"], results
    assert c["null_flag_rate"] <= 0.02
    assert c["precision"] >= 0.85 and c["recall"] >= 0.80


def test_classify_well_above_naive_rules(results):
    c = results.loc["classify"]
    for naive in ("league_table", "peer_sd"):
        n = results.loc[naive]
        assert c["f1"] >= 2.5 * n["f1"]
        # Over-dispersion makes naive rules flag many ordinary units.
        assert n["null_flag_rate"] >= 0.2
        assert n["null_flag_rate"] >= 10 * c["null_flag_rate"]


def test_the_10pct_winsorised_funnel_flags_more_ordinary_units():
    # The reason classify winsorises 5%: at the funnel's 10% tau is underestimated.
    ten = evaluate(Scenario(), methods=["classify"], seeds=range(3),
                   classify_kwargs={"trim_by": 0.1}).iloc[0]
    five = evaluate(Scenario(), methods=["classify"], seeds=range(3)).iloc[0]
    assert ten["null_flag_rate"] > five["null_flag_rate"]


def test_score_needs_the_right_direction():
    truth = pd.DataFrame({"unit": ["a", "b", "c", "d"], "truth": ["high", "low", "null", "null"]})
    verdict = pd.Series(["poor", "poor", "top", "none"], index=["a", "b", "c", "d"])
    s = score(verdict, truth)
    assert (s["tp"], s["fp"], s["fn"], s["null_flagged"]) == (1, 2, 1, 1)


def test_oracle_is_exact_on_a_noise_free_unit():
    sim = simulate_panel(Scenario(n_units=60), seed=0)
    sim.truth.loc[0, "observed"] = sim.truth.loc[0, "true_expected"]
    assert oracle(sim).iloc[0] == "none"


def test_bad_scenarios():
    with pytest.raises(GoodPracticeError, match="n_units"):
        simulate_panel(Scenario(n_units=5))
    with pytest.raises(GoodPracticeError, match="window"):
        simulate_panel(Scenario(n_periods=6))
    with pytest.raises(GoodPracticeError, match="unknown method"):
        evaluate(Scenario(n_units=40), methods=["astrology"], seeds=[0])
