"""Challenge selection (severity, ties, rotation), challenge rounds, and the exception report."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

import goodpractice as gp
from goodpractice.challenge import (
    CHALLENGE_COLUMNS,
    EXCEPTION_COLUMNS,
    challenge_rounds,
    exceptions,
    select_for_challenge,
)
from goodpractice.classify import OVERALL, classify
from goodpractice.compare import compare
from goodpractice.errors import GoodPracticeError


@pytest.fixture(scope="module")
def london():
    return gp.load_example("london")


def _panel():
    """A tiny real panel: the indicator's direction is what _severities reads from it."""
    units = pd.DataFrame({"unit": list("abcdefg"), "name": list("ABCDEFG"), "level": "unit",
                          "parent": "", "population": np.arange(1.0, 8.0) * 1000})
    outcomes = pd.DataFrame({"unit": list("abcdefg"), "period": "2023-01", "indicator": "x",
                             "numerator": 1.0, "denominator": 10.0})
    inds = pd.DataFrame({"indicator": ["x"], "label": ["X"], "kind": ["proportion"],
                         "higher_is_better": [True], "multiplier": [100.0]})
    return gp.from_frames(units=units, outcomes=outcomes, indicators=inds)


def _classification(period, rows):
    """Per-indicator rows (unit, category, z, value, peer_best_quartile) and their overall rows."""
    per = pd.DataFrame(rows, columns=["unit", "category", "z", "value", "peer_best_quartile"])
    per = per.assign(indicator="x", period=period, reason="because")
    overall = per.assign(indicator=OVERALL)
    return pd.concat([per, overall], ignore_index=True)


ROWS = [
    ("a", "poor", -4.0, 10, 20), ("b", "poor", -5.0, 10, 20), ("c", "poor", 4.0, 10, 20),
    ("d", "coasting", 0.5, 15, 20), ("e", "coasting", 0.1, 10, 20), ("f", "coasting", 0.2, 10, 20),
    ("g", "top", 4.0, 30, 20),
]


def test_severity_ranking_and_ties():
    panel = _panel()
    out = select_for_challenge(panel, "2023-01", n_coasting=2, n_poor=2,
                               classification=_classification("2023-01", ROWS))
    assert list(out.columns) == CHALLENGE_COLUMNS
    poor = out[out["category"] == "poor"]
    # |z| 5 first; a and c tie at |z| = 4 and the tie breaks by unit id.
    assert list(poor["unit"]) == ["b", "a"] and list(poor["rank"]) == [1, 2]
    coasting = out[out["category"] == "coasting"]
    # Gap to the better quartile: e and f are 50% behind (tie -> e), d 25%.
    assert list(coasting["unit"]) == ["e", "f"]
    assert coasting["severity"].tolist() == pytest.approx([0.5, 0.5])
    assert coasting["reason"].str.contains("50% behind the better quartile").all()
    assert (out["candidates"] == 3).all()


def test_rotation_skips_recent_units_unless_worst():
    panel = _panel()
    history = pd.DataFrame({"period": ["2022-12", "2022-11", "2022-10"],
                            "unit": ["b", "e", "f"]})
    out = select_for_challenge(panel, "2023-01", n_coasting=2, n_poor=1, rotation=2,
                               history=history, classification=_classification("2023-01", ROWS))
    poor = out[out["category"] == "poor"].iloc[0]
    # b was challenged last month but is the worst poor performer: challenged again, said so.
    assert poor["unit"] == "b" and "again" in poor["reason"]
    coasting = out[out["category"] == "coasting"]
    # e (worst coasting, challenged 2022-11) stays; f was challenged 3 months ago: out of rotation.
    assert list(coasting["unit"]) == ["e", "f"]
    history2 = pd.DataFrame({"period": ["2022-12"], "unit": ["f"]})
    out2 = select_for_challenge(panel, "2023-01", n_coasting=2, history=history2,
                                classification=_classification("2023-01", ROWS))
    coasting2 = out2[out2["category"] == "coasting"]
    assert list(coasting2["unit"]) == ["e", "d"]
    assert (coasting2["skipped_units"] == "f (challenged 2022-12)").all()


def test_bad_arguments():
    panel = _panel()
    cl = _classification("2023-01", ROWS)
    with pytest.raises(GoodPracticeError, match="n_poor"):
        select_for_challenge(panel, "2023-01", n_poor=-1, classification=cl)
    with pytest.raises(GoodPracticeError, match="not 2023-02"):
        select_for_challenge(panel, "2023-02", classification=cl)
    with pytest.raises(GoodPracticeError, match="history needs"):
        select_for_challenge(panel, "2023-01", history=pd.DataFrame({"who": ["a"]}),
                             classification=cl)
    with pytest.raises(GoodPracticeError, match="time order"):
        challenge_rounds(panel, ["2023-02", "2023-01"])


def test_rounds_on_london_respect_rotation(london):
    months = ["2023-01", "2023-02", "2023-03"]
    rounds = challenge_rounds(london, months)
    assert set(rounds["period"]) == set(months)
    for month in months:
        got = rounds[rounds["period"] == month]
        assert (got["category"] == "poor").sum() <= 1
        assert (got["category"] == "coasting").sum() <= 2
    # Deterministic: the first month again, from its own classification, gives the same rows.
    first = classify(london, period=months[0])
    alone = select_for_challenge(london, months[0], classification=first)
    january = rounds[rounds["period"] == months[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, january)
    # A unit chosen twice within the rotation was the worst of its category the second time.
    tables = {}
    for unit, g in rounds.groupby("unit"):
        picks = sorted(months.index(p) for p in g["period"])
        for prev, nxt in pairwise(picks):
            if nxt - prev <= 2:
                month = months[nxt]
                row = g[g["period"] == month].iloc[0]
                table = tables.setdefault(month, classify(london, period=month))
                if row["category"] == "poor":
                    per = table[(table["indicator"] != OVERALL) & (table["category"] == "poor")]
                    severities = per.assign(a=per["z"].abs()).groupby("unit")["a"].max()
                    overall_poor = table[(table["indicator"] == OVERALL)
                                         & (table["category"] == "poor")]["unit"]
                    assert unit == severities.reindex(overall_poor).idxmax()
                assert row["rank"] == 1 and "again" in row["reason"]


def test_exceptions_match_compare(london):
    period = "2023-12"
    inds = ["crime_burglary", "crime_robbery", "crime_theft"]
    exc = exceptions(london, period, inds)
    assert list(exc.columns) == EXCEPTION_COLUMNS and len(exc) > 0
    assert exc["severity"].is_monotonic_decreasing
    cmp = compare(london, inds, period).set_index(["unit", "indicator"])
    adverse = ((cmp["peer_verdict"] == "worse") | (cmp["national_verdict"] == "worse")
               | (cmp["yoy_verdict"] == "deteriorating") | (cmp["prev_verdict"] == "deteriorating")
               | (cmp["spc_signal"] == "concern")
               | cmp["target_status"].isin(["missed", "off_track"]))
    # Every adverse unit x indicator is listed, and nothing else.
    assert set(map(tuple, exc[["unit", "indicator"]].to_numpy())) == set(cmp.index[adverse])
    columns = {"peer": "peer_verdict", "national": "national_verdict",
               "year_on_year": "yoy_verdict", "previous": "prev_verdict"}
    pcols = {"peer": "peer_p", "national": "national_p", "year_on_year": "yoy_p",
             "previous": "prev_p"}
    for r in exc.itertuples():
        c = cmp.loc[(r.unit, r.indicator)]
        if r.comparator in columns:
            assert c[columns[r.comparator]] in ("worse", "deteriorating")
            assert r.p == pytest.approx(c[pcols[r.comparator]])
        assert r.comparator in r.comparators.split(":")[0] or r.comparator in r.comparators


def test_ties_break_by_unit_id_even_through_rounding_noise():
    """Two units coasting by the same mean gap (0.1, 0.2, 0.3 in different orders) are a tie: the
    floating-point sums differ in the last bit, and the lower unit id must still come first."""
    units = pd.DataFrame({"unit": ["a", "b"], "name": ["A", "B"], "level": "unit", "parent": "",
                          "population": [1000.0, 2000.0]})
    outcomes = pd.DataFrame({"unit": ["a", "b"] * 3, "period": "2023-01",
                             "indicator": np.repeat(["x", "y", "z"], 2), "numerator": 1.0,
                             "denominator": 10.0})
    inds = pd.DataFrame({"indicator": ["x", "y", "z"], "label": ["X", "Y", "Z"],
                         "kind": "proportion", "higher_is_better": True, "multiplier": 100.0})
    panel = gp.from_frames(units=units, outcomes=outcomes, indicators=inds)
    rows = [{"unit": u, "indicator": ind, "category": "coasting", "z": 0.1,
             "value": 10 * (1 - gap), "peer_best_quartile": 10.0}
            for u, gaps in (("a", [0.1, 0.2, 0.3]), ("b", [0.3, 0.2, 0.1]))
            for ind, gap in zip("xyz", gaps, strict=True)]
    per = pd.DataFrame(rows).assign(period="2023-01", reason="because")
    overall = pd.DataFrame({"unit": ["a", "b"], "indicator": OVERALL, "category": "coasting",
                            "period": "2023-01", "z": 0.1, "reason": "because"})
    table = pd.concat([per, overall], ignore_index=True)
    out = select_for_challenge(panel, "2023-01", n_coasting=1, classification=table)
    assert list(out["unit"]) == ["a"]
    assert out["severity"].iloc[0] == pytest.approx(0.2)


def test_challenge_reason_never_rounds_z_across_a_limit():
    """A unit poor at 95% (deteriorating, worse than peers) with |z| = 3.085 must not read 3.1,
    which would put it beyond the 99.8% limit its own verdict says it is within."""
    rows = [("a", "poor", -3.085, 10, 20), ("b", "coasting", 0.1, 15, 20)]
    out = select_for_challenge(_panel(), "2023-01", classification=_classification("2023-01", rows))
    poor = out[out["category"] == "poor"].iloc[0]
    assert "(|z| = 3.08)" in poor["reason"]


def test_rounds_classify_through_the_classifier_given(london):
    """A batch passes a cached classify: every round must go through it, with the arguments the
    review notebook uses for the same month (so the two share one cache entry)."""
    calls = []

    def counting(panel, **kwargs):
        calls.append(kwargs)
        return classify(panel, **kwargs)

    months = ["2023-02", "2023-03"]
    got = challenge_rounds(london, months, classifier=counting)
    assert calls == [{"indicator": None, "period": m, "overall": True} for m in months]
    pd.testing.assert_frame_equal(got, challenge_rounds(london, months))
    with pytest.raises(GoodPracticeError, match="classifier="):
        challenge_rounds(london, months, classification=classify(london, period=months[0]))
