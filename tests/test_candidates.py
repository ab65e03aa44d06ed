"""Candidate findings: only top units, above their peers on an element with a favourable CI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import goodpractice as gp
from goodpractice.candidates import (
    EVIDENCE_COLUMNS,
    PRACTICE_COLUMNS,
    candidate_findings,
    practice_id,
    resource_profile,
)
from goodpractice.classify import classify
from goodpractice.investment import link_investment
from goodpractice.peers import peers

PERIOD = "2017-18"


@pytest.fixture(scope="module")
def forces():
    return gp.load_example("forces")


@pytest.fixture(scope="module")
def found(forces):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = classify(forces, period=PERIOD, overall=False)
        practices, evidence = candidate_findings(forces, PERIOD, classification=table)
    return table, practices, evidence


def test_london_has_no_resources_so_no_candidates():
    practices, evidence = candidate_findings(gp.load_example("london"), "2023-12")
    assert practices.empty and evidence.empty
    assert list(practices.columns) == PRACTICE_COLUMNS
    assert list(evidence.columns) == EVIDENCE_COLUMNS
    assert "no resource data" in practices.attrs["note"]


def test_practices_have_the_knowledge_base_shape(found):
    _, practices, evidence = found
    assert len(practices) > 0
    assert list(practices.columns) == PRACTICE_COLUMNS
    assert practices["id"].is_unique
    assert (practices["status"] == "candidate").all()
    assert (practices["source"] == "review").all()
    assert (practices["evidence_rating"] == "limited").all()
    assert (practices["rating_method"] == "cross-unit comparison, observational").all()
    assert practices["summary"].str.contains("a question for an inspector to test on a visit, "
                                             "not a conclusion").all()
    assert practices["title"].str.contains("above-peer investment in").all()
    assert practices["title"].str.contains(r"\d\.\d\dx expected").all()
    # Two evidence rows per practice: the O/E and the elasticity.
    counts = evidence.groupby("practice_id").size()
    assert set(counts.index) == set(practices["id"]) and (counts == 2).all()
    assert (evidence["ci_low"] <= evidence["estimate"]).all()
    assert (evidence["estimate"] <= evidence["ci_high"]).all()


def test_practices_go_into_the_knowledge_base_as_they_are(tmp_path, forces, found):
    """The candidate columns are the KB's practice fields: no mapping between them."""
    from goodpractice import knowledge

    _, practices, evidence = found
    assert set(PRACTICE_COLUMNS) <= set(knowledge.PRACTICE_FIELDS)
    assert set(EVIDENCE_COLUMNS) <= set(knowledge.EVIDENCE_FIELDS)
    db = knowledge.open_kb(tmp_path / "kb.db")
    knowledge.load_reference(db, forces)
    rid = knowledge.record_review(
        db, {"notebook": "unit_review", "parameters": {"period": PERIOD}, "status": "ok",
             "html": "/reviews/x.html", "data_vintage": forces.vintage},
        practices.to_dict("records"), evidence.to_dict("records"))
    stored = knowledge.practices(db).set_index("id")
    assert set(stored.index) == set(practices["id"])
    assert (stored["rating_method"] == "cross-unit comparison, observational").all()
    assert (stored["review_id"] == rid).all()
    assert knowledge.counts(db)["evidence"] == len(evidence)


def test_each_candidate_meets_the_rule(forces, found):
    table, practices, evidence = found
    top = table[table["category"] == "top"].set_index(["unit", "indicator"])
    profile = resource_profile(forces, [PERIOD], "fte")
    pairs = peers(forces, k=7)
    fits = {}
    for p in practices.itertuples():
        assert (p.unit, p.indicator) in top.index  # only units classified top
        mine = profile[(profile["unit"] == p.unit) & (profile["element"] == p.element)].iloc[0]
        peer_units = pairs.loc[pairs["unit"] == p.unit, "peer"]
        theirs = profile[profile["unit"].isin(peer_units) & (profile["element"] == p.element)]
        assert mine["intensity"] >= 1.1 * theirs["intensity"].median()
        assert mine["share"] > theirs["share"].median()
        if p.indicator not in fits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fits[p.indicator] = link_investment(forces, p.indicator).tidy().set_index("element")
        e = fits[p.indicator].loc[p.element]
        hib = bool(forces.indicator(p.indicator)["higher_is_better"])
        assert (e["ci_low"] > 0) if hib else (e["ci_high"] < 0)
        ev = evidence[evidence["practice_id"] == p.id]
        assert np.isclose(ev["estimate"], e["elasticity"]).any()
        assert np.isclose(ev["estimate"], top.loc[(p.unit, p.indicator), "ratio"]).any()


def test_ids_are_stable_across_runs(forces, found):
    table, practices, _ = found
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again, _ = candidate_findings(forces, PERIOD, classification=table)
    assert list(again["id"]) == list(practices["id"])
    assert practice_id("Durham", "investigations", "charge rate") == (
        "review:durham:investigations:charge_rate")
