"""Most similar peers: unit-centred nearest neighbours on standardised context variables."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import goodpractice as gp
from goodpractice.errors import GoodPracticeError
from goodpractice.peers import peer_groups, peer_sensitivity, peers


def _units(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"unit": [f"u{i:02d}" for i in range(n)],
                         "population": rng.uniform(1e5, 1e6, n),
                         "density": rng.uniform(100, 9000, n),
                         "imd_score": rng.uniform(5, 40, n)})


def test_matches_brute_force_zscore_distances():
    u = _units()
    out = peers(u, k=4)
    assert list(out.columns) == ["unit", "peer", "rank", "distance"]
    x = u[["population", "density", "imd_score"]].to_numpy()
    z = (x - x.mean(0)) / x.std(0)  # population SD, as StandardScaler
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    for i, unit in enumerate(u["unit"]):
        expected = [u["unit"][j] for j in np.argsort(d[i]) if j != i][:4]
        got = out[out["unit"] == unit]
        assert got["peer"].tolist() == expected
        assert got["rank"].tolist() == [1, 2, 3, 4]
        np.testing.assert_allclose(got["distance"], np.sort(d[i][d[i] > 0])[:4], rtol=1e-9)


def test_unit_centred_not_symmetric():
    u = pd.DataFrame({"unit": list("abcd"), "x": [0.0, 1.0, 1.5, 10.0]})
    g = peer_groups(peers(u, k=1))
    assert g == {"a": ["b"], "b": ["c"], "c": ["b"], "d": ["c"]}


def test_weights_change_the_metric():
    u = pd.DataFrame({"unit": list("abc"), "x": [0.0, 1.0, 0.0], "y": [0.0, 0.0, 1.0]})
    assert peers(u, k=1, weights={"x": 10.0}).iloc[0]["peer"] == "c"
    assert peers(u, k=1, weights={"y": 10.0}).iloc[0]["peer"] == "b"


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 25), k=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_row_order_does_not_matter(n, k, seed):
    u = _units(n, seed)
    a = peers(u, k=k)
    b = peers(u.sample(frac=1, random_state=seed), k=k)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_ties_break_by_unit_key():
    u = pd.DataFrame({"unit": ["z", "b", "a", "m"], "x": [0.0, 1.0, 1.0, 5.0]})
    assert peers(u, k=1).set_index("unit").loc["z", "peer"] == "a"


def test_default_variables_skip_incomplete_columns():
    u = _units()
    u.loc[3, "imd_score"] = np.nan
    out = peers(u, k=3)
    assert out.attrs["variables"] == ["population", "density"]


def test_named_variable_missing_for_a_unit():
    u = _units()
    u.loc[3, "imd_score"] = np.nan
    with pytest.raises(GoodPracticeError, match="u03.*'imd_score'"):
        peers(u, k=3, variables=["population", "imd_score"])
    filled = peers(u, k=3, variables=["population", "imd_score"], impute="median")
    assert len(filled) == 36


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 12}, "needs at least 13 units"),
    ({"k": 0}, "k must be"),
    ({"variables": ["nope"]}, "'nope' not in the units table"),
    ({"weights": {"other": 2}}, "weights name"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(GoodPracticeError, match=message):
        peers(_units(), **kwargs)


def test_forces_example_default_peers():
    panel = gp.load_example("forces")
    out = peers(panel)
    assert len(out) == 43 * 7
    assert out.attrs["variables"] == [v for v in panel.context_variables
                                      if panel.units[v].notna().all()]
    assert (out["unit"] != out["peer"]).all()


def test_sensitivity_with_verdicts_on_london():
    panel = gp.load_example("london")
    out = peer_sensitivity(panel, "camden", ks=(5, 7, 10),
                           variable_sets={"size": ["population", "density_per_km2"]},
                           indicator="crime_burglary", period="2024-01")
    assert out["scenario"].tolist() == ["reference", "k=5", "k=10", "size"]
    assert out["n_peers"].tolist() == [7, 5, 10, 7]
    assert out["overlap"].iloc[0] == 1.0
    # Five nearest are a subset of the seven nearest on the same variables.
    assert out["overlap"].iloc[1] == pytest.approx(5 / 7)
    assert set(out["peer_verdict"]) <= {"better", "worse", "similar"}
    assert out["peer_p"].between(0, 1).all()


def test_sensitivity_unknown_unit():
    with pytest.raises(GoodPracticeError, match="'nowhere'"):
        peer_sensitivity(_units(), "nowhere")
