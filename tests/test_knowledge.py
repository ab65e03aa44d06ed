"""The knowledge-base API on real SQLite files: schema, idempotent writes, lifecycle, search."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodpractice import knowledge as kn
from goodpractice.errors import KnowledgeBaseError

TABLES = {"elements", "units", "indicators", "practices", "evidence", "reviews",
          "recommendations", "objectives", "status_history"}


@pytest.fixture
def db(tmp_path):
    d = kn.open_kb(tmp_path / "kb.db")
    yield d
    d.close()


def snapshot(db) -> str:
    """A digest of every row of every content table: equal digests = nothing changed."""
    h = hashlib.sha256()
    for t in sorted(TABLES):
        for row in db.conn.execute(f"SELECT * FROM [{t}] ORDER BY 1"):
            h.update(repr(row).encode())
    return h.hexdigest()


def review(**over):
    base = {"notebook": "unit_review", "parameters": {"unit": "Durham"}, "status": "ok",
            "started": "2024-05-01T10:00:00", "html": "/reviews/d.html", "data_vintage": "v1"}
    return {**base, **over}


CANDIDATE = {"title": "Durham: above-peer Investigations", "unit": "Durham",
             "element": "investigations", "indicator": "charge_rate",
             "evidence": [{"indicator": "charge_rate", "period": "2017-18", "estimate": 1.4,
                           "ci_low": 1.2, "ci_high": 1.6, "method": "O/E"}]}


def test_schema_wal_and_version(tmp_path):
    db = kn.open_kb(tmp_path / "kb.db")
    assert TABLES <= set(db.table_names())
    assert {"practices_fts", "recommendations_fts"} <= set(db.table_names())
    assert db.journal_mode == "wal"
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == kn.SCHEMA_VERSION
    cols = {c.name for c in db["practices"].columns}
    assert {"id", "title", "summary", "element", "unit", "indicator", "status", "source",
            "evidence_rating", "identified_on", "disseminated_on", "contact", "tags"} <= cols
    assert {"practice_id", "indicator", "period", "estimate", "ci_low", "ci_high", "method",
            "review_id"} <= {c.name for c in db["evidence"].columns}
    db.close()
    again = kn.open_kb(tmp_path / "kb.db")  # re-opening migrates nothing and loses nothing
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == kn.SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "kb.db"
    kn.open_kb(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {kn.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(KnowledgeBaseError, match="newer"):
        kn.open_kb(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("this is not sqlite " * 100)
    with pytest.raises(KnowledgeBaseError, match="not a usable knowledge base"):
        kn.open_kb(bad)


def test_check_constraints_guard_even_raw_sql(db):
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute("INSERT INTO practices (id, title, source, status) "
                        "VALUES ('x', 't', 'review', 'approved')")


def test_add_practice_is_idempotent(db):
    pid = kn.add_practice(db, title="Youth club  sessions", source="initiative",
                          evidence_rating="limited", tags="youth, cadets, youth")
    before = snapshot(db)
    assert kn.add_practice(db, title="Youth club sessions", source="initiative",
                           evidence_rating="limited", tags=["cadets", "youth"]) == pid
    assert snapshot(db) == before
    row = kn.practices(db, id=pid).iloc[0]
    assert json.loads(row["tags"]) == ["cadets", "youth"]
    assert row["status"] == "candidate"


def test_add_practice_validation_names_column_and_value(db):
    with pytest.raises(KnowledgeBaseError) as err:
        kn.add_practice(db, title="x", source="rumour", evidence_rating="great",
                        identified_on="31/03/2002", colour="red")
    text = str(err.value)
    for expected in ("'source'", "'rumour'", "'evidence_rating'", "'great'",
                     "'identified_on'", "YYYY-MM-DD", "'colour'", "nothing was written"):
        assert expected in text
    assert db["practices"].count == 0


def test_record_review_one_transaction_and_idempotent(db):
    rid = kn.record_review(db, review(), [CANDIDATE], [])
    counts = kn.counts(db)
    assert counts["reviews"] == 1 and counts["practices"] == 1 and counts["evidence"] == 1
    before = snapshot(db)
    assert kn.record_review(db, review(), [CANDIDATE], []) == rid
    assert snapshot(db) == before
    p = kn.practices(db).iloc[0]
    assert p["review_id"] == rid and p["review_html"] == "/reviews/d.html"
    assert p["source"] == "review" and p["evidence_rating"] == "limited"
    assert p["identified_on"] == "2024-05-01"
    # the review id is the resume key: other parameters -> another review
    assert kn.record_review(db, review(parameters={"unit": "Kent"}), [], []) != rid


def test_record_review_bad_evidence_writes_nothing(db):
    bad = {**CANDIDATE, "evidence": [{"estimate": 2.0, "ci_low": 1.2, "ci_high": 1.6,
                                      "method": "O/E"}]}
    with pytest.raises(KnowledgeBaseError, match="estimate"):
        kn.record_review(db, review(), [bad], [])
    assert sum(kn.counts(db).values()) == 0
    with pytest.raises(KnowledgeBaseError, match="practice_id"):
        kn.record_review(db, review(), [], [{"practice_id": "nope", "method": "x"}])
    assert db["reviews"].count == 0


def test_rerecording_keeps_a_validated_status(db):
    kn.record_review(db, review(), [CANDIDATE], [])
    pid = kn.practices(db).iloc[0]["id"]
    kn.set_status(db, pid, "validated", note="visit", on="2024-06-01",
                  evidence_rating="moderate", rating_method="visit and comparison")
    kn.record_review(db, review(data_vintage="v2"), [CANDIDATE], [])
    p = kn.practices(db, id=pid).iloc[0]
    assert (p["status"], p["evidence_rating"]) == ("validated", "moderate")
    assert db["evidence"].count == 2  # a new review adds its evidence to the same practice


def test_lifecycle(db):
    pid = kn.add_practice(db, title="p", source="review")
    kn.set_status(db, pid, "validated", on="2024-01-02", note="pilot")
    kn.set_status(db, pid, "validated", on="2024-01-03")  # repeating is a no-op
    with pytest.raises(KnowledgeBaseError, match="can move to disseminated, did_not_work"):
        kn.set_status(db, pid, "candidate")
    kn.set_status(db, pid, "disseminated", on="2024-02-01")
    assert kn.practices(db, id=pid).iloc[0]["disseminated_on"] == "2024-02-01"
    kn.set_status(db, pid, "did_not_work", on="2024-09-01", note="no effect in the pilot")
    with pytest.raises(KnowledgeBaseError, match="final"):
        kn.set_status(db, pid, "validated")
    hist = kn.read_table(db, "status_history", practice_id=pid)
    assert list(hist.sort_values("changed_on")["to_status"]) == [
        "validated", "disseminated", "did_not_work"]
    q = kn.add_practice(db, title="q", source="review")
    with pytest.raises(KnowledgeBaseError, match="not to 'disseminated'"):
        kn.set_status(db, q, "disseminated")
    with pytest.raises(KnowledgeBaseError, match="no practice"):
        kn.set_status(db, "missing", "validated")
    # a failed practice is kept, never deleted
    assert kn.practices(db, status="did_not_work")["id"].tolist() == [pid]


def test_status_from_an_import_follows_the_lifecycle(db, tmp_path):
    # Before: an import saying 'validated' moved a candidate silently (no status_history row),
    # and 'disseminated' could skip the validation step.
    pid = kn.add_practice(db, title="Knife crime surgeries", source="initiative",
                          evidence_rating="limited")
    jump = tmp_path / "jump.csv"
    jump.write_text("title,source,status\nKnife crime surgeries,initiative,disseminated\n")
    before = snapshot(db)
    with pytest.raises(KnowledgeBaseError, match="not straight to 'disseminated'.*set-status"):
        kn.import_practices(db, jump)
    assert snapshot(db) == before
    step = tmp_path / "step.csv"
    step.write_text("title,source,status\nKnife crime surgeries,initiative,validated\n")
    kn.import_practices(db, step)
    p = kn.practices(db, id=pid).iloc[0]
    assert (p["status"], p["evidence_rating"]) == ("validated", "limited")  # rating kept
    hist = kn.read_table(db, "status_history", practice_id=pid)
    assert hist[["from_status", "to_status"]].values.tolist() == [["candidate", "validated"]]
    after = snapshot(db)
    kn.import_practices(db, step)  # idempotent
    kn.add_practice(db, title="Knife crime surgeries", source="initiative")  # an older record
    assert snapshot(db) == after and kn.practices(db, id=pid).iloc[0]["status"] == "validated"


def test_update_recommendation(db):
    db["recommendations"].insert({"code": "R8", "source_report": "x.txt", "met": "moderately"},
                                 pk="code")
    kn.update_recommendation(db, "R8", met="significantly", progress="PIs everywhere",
                             on="2002-09-30")
    r = kn.read_table(db, "recommendations").iloc[0]
    assert (r["met"], r["progress"], r["updated_on"]) == (
        "significantly", "PIs everywhere", "2002-09-30")
    with pytest.raises(KnowledgeBaseError, match="expected one of not, partially"):
        kn.update_recommendation(db, "R8", met="mostly")
    with pytest.raises(KnowledgeBaseError, match="no recommendation 'R99'; known: R8"):
        kn.update_recommendation(db, "R99", met="not")


def test_import_csv_all_or_nothing(db, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("title,summary,element,source,evidence_rating,tags\n"
                    "Cadet links,Youth club work,neighbourhood_policing,initiative,limited,"
                    "\"youth, cadets\"\n"
                    "Murder reviews,Structured reviews,investigations,scrutiny,limited,\n")
    ids = kn.import_practices(db, good)
    assert len(ids) == 2 and db["practices"].count == 2
    before = snapshot(db)
    kn.import_practices(db, good)
    assert snapshot(db) == before
    bad = tmp_path / "bad.csv"
    bad.write_text("title,source,evidence_rating\nNew one,review,limited\n"
                   "Second,review,excellent\n")
    with pytest.raises(KnowledgeBaseError) as err:
        kn.import_practices(db, bad)
    assert "bad.csv, row 3, column 'evidence_rating'" in str(err.value)
    assert "'excellent'" in str(err.value) and "strong, moderate, limited, none" in str(err.value)
    assert snapshot(db) == before  # the good first row was not written either


def test_import_yaml_with_evidence(db, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("practices:\n"
                 "  - title: Unified homicide command\n    source: scrutiny\n"
                 "    evidence_rating: limited\n    element: investigations\n"
                 "    evidence:\n      - measure: detection rate target\n"
                 "        estimate: 89\n        method: reported\n")
    (pid,) = kn.import_practices(db, f)
    ev = kn.read_table(db, "evidence", practice_id=pid)
    assert ev["estimate"].tolist() == [89.0]
    with pytest.raises(KnowledgeBaseError, match=r"\.txt"):
        kn.import_practices(db, tmp_path / "p.txt")


def test_search_ranks_by_relevance_and_stems(db):
    kn.add_practice(db, title="Patrol planning", source="review",
                    summary="Weekly meetings. " * 20 + "Some patrols.")
    best = kn.add_practice(db, title="Hot-spot patrols", source="review",
                           summary="Patrols targeted at hot spots; patrol time logged.")
    hits = kn.search(db, "patrol")
    assert hits["id"].iloc[0] == best and len(hits) == 2
    assert hits["matched_in"].tolist() == ["title or tags"] * 2  # 'patrol' stems 'patrols'
    assert hits["rank"].is_monotonic_increasing
    assert "[" in hits["snippet"].iloc[0]
    assert kn.search(db, 'patrol" (*').shape[0] == 2  # FTS syntax in user text is harmless
    with pytest.raises(KnowledgeBaseError, match="at least one word"):
        kn.search(db, "  ")


def test_fts_follows_updates_and_deletes(db):
    pid = kn.add_practice(db, title="Alpha", source="review", summary="zebra")
    assert kn.search(db, "zebra")["id"].tolist() == [pid]
    kn.add_practice(db, title="Alpha", source="review", summary="giraffe")
    assert kn.search(db, "zebra").empty and kn.search(db, "giraffe")["id"].tolist() == [pid]
    db.conn.execute("DELETE FROM practices WHERE id = ?", [pid])
    db.conn.commit()
    assert kn.search(db, "giraffe").empty


def test_practices_filters(db):
    a = kn.add_practice(db, title="a", source="review", element="response")
    kn.add_practice(db, title="b", source="HMIC", element="intelligence")
    assert isinstance(kn.practices(db), pd.DataFrame)
    assert kn.practices(db, element="response")["id"].tolist() == [a]
    assert len(kn.practices(db, source=["review", "HMIC"])) == 2
    with pytest.raises(KnowledgeBaseError, match="cannot filter on 'colour'"):
        kn.practices(db, colour="red")


def test_load_reference_from_a_panel(db):
    from goodpractice.panel import from_frames

    units = pd.DataFrame({"unit": ["A", "B"], "name": ["Alpha", "Beta"], "level": "force",
                          "parent": None, "population": [1000.0, 2000.0]})
    outcomes = pd.DataFrame({"unit": ["A", "B"], "period": "2017-18", "indicator": "charge_rate",
                             "numerator": [10.0, 20.0], "denominator": [100.0, 100.0]})
    indicators = pd.DataFrame({"indicator": ["charge_rate"], "label": ["Charge rate"],
                               "kind": ["proportion"], "higher_is_better": [True],
                               "multiplier": [100.0]})
    panel = from_frames(units=units, outcomes=outcomes, indicators=indicators,
                        policing_model={"response": {"label": "Response"}})
    kn.load_reference(db, panel)
    before = snapshot(db)
    kn.load_reference(db, panel)
    assert snapshot(db) == before
    assert kn.read_table(db, "units")["population"].tolist() == [1000.0, 2000.0]
    assert kn.read_table(db, "indicators").iloc[0]["higher_is_better"] == 1
    # once reference data is loaded, unknown names are refused
    with pytest.raises(KnowledgeBaseError, match="a known unit"):
        kn.add_practice(db, title="x", source="review", unit="Z")


@settings(max_examples=25, deadline=None)
@given(title=st.text(min_size=1, max_size=80).filter(lambda s: s.strip()),
       summary=st.text(max_size=200))
def test_any_text_round_trips_and_is_idempotent(tmp_path_factory, title, summary):
    db = kn.open_kb(tmp_path_factory.mktemp("h") / "kb.db")
    pid = kn.add_practice(db, title=title, summary=summary, source="review")
    pid2 = kn.add_practice(db, title=title, summary=summary, source="review")
    row = kn.practices(db).iloc[0]
    assert pid == pid2 and db["practices"].count == 1
    assert row["title"] == " ".join(title.split())
    assert (row["summary"] if isinstance(row["summary"], str) else "") == (
        summary if summary.strip() else "")
    db.close()


# ---------------------------------------------------------------- the `kb` commands


def test_cli_round_trip(tmp_path):
    from click.testing import CliRunner

    from goodpractice.knowledge_cli import kb

    run = CliRunner().invoke
    db = str(tmp_path / "kb.db")
    assert run(kb, ["init", "--db", db]).output == (
        f"{db}: schema version {kn.SCHEMA_VERSION}, 0 rows\n")
    out = run(kb, ["seed", "--db", db]).output
    assert "recommendations: 13\n" in out
    res = run(kb, ["add-practice", "--db", db, "--title", "Night-time economy marshals",
                   "--source", "initiative", "--element", "neighbourhood_policing",
                   "--rating", "limited", "--tags", "night, licensing"])
    assert res.exit_code == 0
    pid = res.output.strip()
    res = run(kb, ["search", "--db", db, "marshals"])
    assert pid in res.output and "Night-time economy marshals" in res.output
    assert run(kb, ["set-status", "--db", db, pid, "validated", "--on", "2024-05-01"]).output == (
        f"{pid}: validated\n")
    res = run(kb, ["set-status", "--db", db, pid, "candidate"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "it can move to disseminated, did_not_work" in res.output
    res = run(kb, ["update-recommendation", "--db", db, "R1", "--met", "completely"])
    assert res.output == "R1: updated\n"
    assert run(kb, ["search", "--db", db, "zzzz"]).output == "no matches\n"
    csv = tmp_path / "bad.csv"
    csv.write_text("title,source\nA,gossip\n")
    res = run(kb, ["import", "--db", db, str(csv)])
    assert res.exit_code == 1 and "bad.csv, row 2, column 'source'" in res.output
    res = run(kb, ["search", "--db", str(tmp_path / "none.db"), "x"])
    assert res.exit_code == 1 and "kb init" in res.output


def test_every_kb_command_has_help_with_an_example():
    from click.testing import CliRunner

    from goodpractice.knowledge_cli import kb

    for name, cmd in kb.commands.items():
        res = CliRunner().invoke(kb, [name, "--help"])
        assert res.exit_code == 0 and "Example:" in res.output, name
        assert cmd.help


def test_a_version_1_knowledge_base_is_migrated_in_place(tmp_path):
    # A database built before indicators carried `counts` upgrades on open, keeping its rows.
    import sqlite3

    import goodpractice as gp

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in kn._statements(kn.MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO indicators (indicator, label, kind, higher_is_better, multiplier) "
                 "VALUES ('old', 'Old', 'rate', 0, 1000)")
    conn.commit()
    conn.close()
    db = kn.open_kb(path)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == kn.SCHEMA_VERSION
    kn.load_reference(db, gp.load_example("forces"))
    flags = dict(db.conn.execute("SELECT indicator, counts FROM indicators"))
    assert flags["old"] == 1 and flags["crime_severity"] == 0 and flags["crime_total"] == 1
