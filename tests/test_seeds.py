"""The seed content is checked against the source reports themselves (tests/data/kb_seeds/)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from goodpractice import knowledge as kn
from goodpractice.seeds import read_seeds, seed_kb

SOURCES = Path(__file__).parent / "data" / "kb_seeds"
# OCR errors the reconstruction mends, as documented in kb/seeds/recommendations.yaml.
OCR_FIXES = {"\ue007": "-", "stafffing": "staffing", "wo k,": "work,", "yetmade": "yet made",
             "outwhatis": "out what is", "howto": "how to",
             "managementframework": "management framework"}


def words(text: str) -> list[str]:
    # Letters and digits only: OCR joins ('addressmatching') and our hyphens compare equal.
    return re.findall(r"[a-z0-9]+", text.lower())


def trigrams(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)}


def source_text(name: str) -> str:
    text = (SOURCES / name).read_text(encoding="utf-8")
    for bad, good in OCR_FIXES.items():
        text = text.replace(bad, good)
    return " ".join(words(text))


def in_order_nearby(ours: str, source: list[str], slack: float = 4.0) -> bool:
    """Every word of `ours`, in order, inside one window of the source of at most
    slack x its length + 400 words (page breaks push a
    field's last words past other columns). The OCR interleaves table columns word by word (R1), so a
    field's words are in order but not adjacent; an invented word fails outright."""
    mine = words(ours.replace("[...]", " "))
    if not mine:
        return True
    span = int(slack * len(mine)) + 400
    for start in (i for i, w in enumerate(source) if w == mine[0]):
        j, k = start, 0
        while j < len(source) and j - start <= span and k < len(mine):
            if source[j] == mine[k]:
                k += 1
            j += 1
        if k == len(mine):
            return True
    return False


def coverage(ours: str, source: str) -> float:
    """Share of our word trigrams found verbatim (as words) in the source."""
    mine = trigrams(ours.replace("[...]", " "))
    if not mine:
        return 1.0
    return sum(1 for t in mine if " ".join(t) in source) / len(mine)


@pytest.fixture(scope="module")
def seeds():
    return read_seeds()


def test_recommendations_r1_to_r13_met_levels_in_source_order(seeds):
    recs = seeds["recommendations"]
    assert [r["code"] for r in recs] == [f"R{i}" for i in range(1, 14)]
    raw = (SOURCES / "002_7e03182d064c882c.txt").read_text(encoding="utf-8")
    levels = re.findall(r"Recommendation met\s*:\s*([a-z]+)", raw)
    assert len(levels) == 13
    assert [r["met"] for r in recs] == levels
    assert all(r["source_report"] == "002_7e03182d064c882c.txt" for r in recs)


@pytest.mark.parametrize("field", ["subject", "recommendation", "progress", "lead", "due"])
def test_recommendation_text_comes_from_the_source(seeds, field):
    source = source_text("002_7e03182d064c882c.txt")
    for r in seeds["recommendations"]:
        if r[field] is None:
            assert r["recovered"], f"{r['code']}.{field} missing without a 'recovered' note"
            continue
        assert in_order_nearby(r[field], source.split()), (r["code"], field, r[field][:60])


def test_unrecovered_gaps_are_marked(seeds):
    by_code = {r["code"]: r for r in seeds["recommendations"]}
    for code in ("R5", "R11"):
        assert "[...]" in by_code[code]["recommendation"] and by_code[code]["recovered"]
    assert by_code["R4"]["due"] is None and "R4" in by_code["R4"]["recovered"]
    assert by_code["R13"]["statutory"] is None and by_code["R13"]["recovered"]


def test_objectives_come_from_the_source(seeds):
    source = source_text("004_54d8e73a01501064.txt").split()
    objs = seeds["objectives"]
    assert len({o["id"] for o in objs}) == len(objs)
    for o in objs:
        for field in ("priority", "aspect", "objective", "performance_indicator", "target"):
            if o[field]:
                assert in_order_nearby(o[field], source), (o["id"], field, o[field][:60])
    targets = {o["target"] for o in objs}
    for printed in ("Reduce street crime by 5 per cent",
                    "Achieve a judicial disposal rate of 10 per cent",
                    "Reduce residential burglary by 2 per cent",
                    "Achieve a judicial disposal rate of 15 per cent",
                    "1,725 judicial disposals", "2,434 recruits", "9 days", "70 per cent"):
        assert printed in targets
    status = pd.Series([o["target_status"] for o in objs])
    street = next(o for o in objs if o["target"] == "Reduce street crime by 5 per cent")
    assert street["target_status"] == "set" and street["aspect"] == "Street crime"
    assert set(status) <= {"set", "incomplete in draft", "under development",
                           "not set (by choice)", "none given"}
    open_ = [o for o in objs if o["target"] and ("??" in o["target"])]
    assert open_ and all(o["target_status"] == "incomplete in draft" for o in open_)


def test_practices_are_real_cited_and_honestly_rated(seeds):
    practices = seeds["practices"]
    assert len(practices) >= 3
    for p in practices:
        assert (SOURCES / p["source_report"]).exists()
        assert p["citation"].startswith(p["source_report"])
        assert p["evidence_rating"] in ("limited", "none")  # no comparison group anywhere
        assert p["status"] == "candidate"
        source = source_text(p["source_report"])
        # Summaries paraphrase, but what they put in italics is quoted verbatim.
        quotes = re.findall(r"(?<![*])[*]([^*]+)[*](?![*])", p["summary"])
        assert quotes or "|" in p["summary"], p["title"]
        for quote in quotes:
            assert " ".join(words(quote)) in source, (p["title"], quote)
        assert coverage(p["summary"], source) >= 0.35, p["title"]
    bsu = next(p for p in practices if "Brent" in p["title"])
    assert bsu["evidence"][0]["estimate"] == 4
    assert "four youths from the club joining the Police Cadets" in (
        SOURCES / "003_48d115fde7e6d48d.txt").read_text(encoding="utf-8")
    titles = " ".join(p["title"] for p in practices)
    for expected in ("Prevention and Reduction Team", "murder investigations"):
        assert expected in titles


def test_seeding_twice_changes_nothing(tmp_path):
    from test_knowledge import snapshot

    db = kn.open_kb(tmp_path / "kb.db")
    counts = seed_kb(db)
    assert counts["recommendations"] == 13 and counts["practices"] >= 3
    before, rows = snapshot(db), kn.counts(db)
    seed_kb(db)
    assert snapshot(db) == before and kn.counts(db) == rows
    assert not kn.search(db, "cadets").empty
    assert kn.search(db, "appraisal", table="recommendations")["code"].tolist() == ["R6"]


def test_seed_keeps_panel_elements_and_resolves_units(tmp_path):
    db = kn.open_kb(tmp_path / "kb.db")
    db["elements"].insert({"element": "investigations", "label": "Investigation (panel)"})
    db["units"].insert_all([{"unit": "E09000005", "name": "Brent"},
                            {"unit": "E09000001", "name": "City"}], pk="unit")
    seed_kb(db)
    assert kn.read_table(db, "elements", element="investigations").iloc[0]["label"] == (
        "Investigation (panel)")
    bsu = kn.search(db, "cadets").iloc[0]
    assert bsu["unit"] == "E09000005"
    other = kn.open_kb(tmp_path / "forces.db")
    other["units"].insert({"unit": "Durham", "name": "Durham"}, pk="unit")
    seed_kb(other)
    row = kn.practices(other, id=kn.search(other, "cadets").iloc[0]["id"]).iloc[0]
    assert pd.isna(row["unit"]) and "Brent" in row["notes"]
