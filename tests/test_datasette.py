"""Publishing through Datasette: (1) the in-process client, (2) a real server process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import kb_fixtures
import pytest
from datasette.app import Datasette
from datasette.utils import tilde_encode
from kb_fixtures import CANDIDATE_TITLE, REVIEW_HTML, REVIEW_ID, XSS_TITLE

from goodpractice import knowledge, publish
from goodpractice.errors import KnowledgeBaseError

kb_site = kb_fixtures.kb_site  # shared fixtures (conftest.py belongs to the lead)
live_server = kb_fixtures.live_server


def make_ds(db_path, reviews, metadata=None) -> Datasette:
    return Datasette(
        immutables=[str(db_path)],
        metadata=metadata or publish.metadata_for(db_path),
        settings=publish.settings(),
        plugins_dir=str(publish.PLUGINS_DIR),
        template_dir=str(publish.TEMPLATES_DIR),
        static_mounts=[("reviews", str(reviews))],
    )


class Client:
    """Datasette's in-process client, driven from synchronous tests."""

    def __init__(self, db_path, reviews):
        self.ds = make_ds(db_path, reviews)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.ds.invoke_startup())

    def get(self, url):
        return self.loop.run_until_complete(self.ds.client.get(url))

    def post(self, url, **kw):
        return self.loop.run_until_complete(self.ds.client.post(url, **kw))


@pytest.fixture(scope="module")
def client(kb_site):
    c = Client(*kb_site)
    yield c
    c.loop.close()


def rows(resp):
    assert resp.status_code == 200, resp.text[:500]
    return resp.json()


# ---------------------------------------------------------------- (1) in-process


def test_every_column_of_every_table_is_described(kb_site):
    db_path, _ = kb_site
    meta = publish.metadata_for(db_path)["databases"]["goodpractice"]["tables"]
    db = knowledge.open_kb(db_path)
    for table in db.table_names():
        if "_fts" in table:
            continue
        described = meta[table]["columns"]
        for col in db[table].columns:
            assert described.get(col.name), f"{table}.{col.name} has no description"
    db.close()


def test_ranked_search_canned_query(client):
    got = rows(client.get("/goodpractice/search_practices.json?q=murder+review&_shape=array"))
    assert got[0]["title"].startswith("Structured reviews of murder investigations")
    ranks = [r["rank"] for r in got]
    assert ranks == sorted(ranks)
    assert rows(client.get("/goodpractice/search_practices.json?q=&_shape=array")) == []
    rec = rows(client.get("/goodpractice/search_recommendations.json?q=appraisal&_shape=array"))
    assert [r["recommendation_code"] for r in rec] == ["R6"]


def test_relevance_beats_primary_key_order(client):
    # 'investigations' occurs in several practices; the one that is about it comes first
    got = rows(client.get("/goodpractice/search_practices.json?q=investigations&_shape=array"))
    assert len(got) >= 2
    assert "Investigations" in got[0]["title"] or "investigation" in got[0]["title"]
    assert [r["rank"] for r in got] == sorted(r["rank"] for r in got)


@pytest.mark.parametrize("q", ["investigations", "murder review", "youth club cadets",
                               "review", "Durham charge", "cadets"])
def test_canned_search_is_the_api_search(client, kb_site, q):
    # The canned query repeats knowledge.search's SQL; both must give the same order.
    got = rows(client.get(f"/goodpractice/search_practices.json?q={q}&_shape=array"))
    db = knowledge.open_kb(kb_site[0])
    api = knowledge.search(db, q, limit=50)
    db.close()
    assert got, q
    assert [r["practice"] for r in got] == api["id"].tolist()
    assert [r["matched_in"] for r in got] == api["matched_in"].tolist()


@pytest.fixture(scope="module")
def broad_kb(tmp_path_factory):
    """6,000 practices that all say 'policing' in a long summary (more than the 5,000-row ranking
    window), one old practice titled for it, one where it occurs once in a long summary."""
    folder = tmp_path_factory.mktemp("broad")
    (folder / "reviews").mkdir()
    db = knowledge.open_kb(folder / "goodpractice.db")
    filler = "neighbourhood team briefing tasking analyst forensic visit pilot " * 8

    def run(db):
        db["practices"].insert({"id": "old-titled", "title": "Policing the night economy",
                                "summary": "Licensing visits on Friday nights.",
                                "source": "review", "status": "candidate",
                                "evidence_rating": "limited"})
        db["practices"].insert({"id": "once-in-long-summary", "title": "Shift rosters",
                                "summary": filler + " policing at night " + filler,
                                "source": "review",
                                "status": "candidate", "evidence_rating": "limited"})
        db["practices"].insert_all(
            ({"id": f"p{i:05d}", "title": f"Practice {i}",
              "summary": f"{filler} policing policing {'mentoring ' if i % 7 == 0 else ''}"
                         f"{filler}",
              "source": "review", "status": "candidate", "evidence_rating": "limited"}
             for i in range(6000)), batch_size=1000)

    knowledge.write(db, run)
    knowledge.checkpoint(db)
    db.close()
    c = Client(folder / "goodpractice.db", folder / "reviews")
    yield c, folder / "goodpractice.db"
    c.loop.close()


def test_broad_search_keeps_a_title_match_first(broad_kb):
    client, path = broad_kb
    got = rows(client.get("/goodpractice/search_practices.json?q=policing&_shape=array"))
    ids = [r["practice"] for r in got]
    # The oldest practice is outside the newest 5,000 matches, but its title holds the word.
    assert ids[0] == "old-titled" and got[0]["matched_in"] == "title or tags"
    assert len(got) == 50 and "once-in-long-summary" not in ids
    text = [r["rank"] for r in got[1:]]
    assert all(r["matched_in"] == "text" for r in got[1:]) and text == sorted(text)


def test_narrow_search_ranks_exactly_as_bm25(broad_kb):
    # 'mentoring' matches 858 practices: below the window, so every match is ranked and the
    # text tier is FTS5's own bm25 order over the whole table.
    client, path = broad_kb
    got = rows(client.get("/goodpractice/search_practices.json?q=mentoring&_shape=array"))
    conn = sqlite3.connect(path)
    full = [r[0] for r in conn.execute(
        "select round(rank, 3) from practices_fts where practices_fts match 'mentoring' "
        "order by rank limit 50")]
    conn.close()
    assert len(got) == 50 and [r["rank"] for r in got] == full  # equal summaries tie: ranks
    # A title match ranks above the same word once in a long summary.
    got = rows(client.get("/goodpractice/search_practices.json?q=night&_shape=array"))
    assert [r["practice"] for r in got] == ["old-titled", "once-in-long-summary"]
    assert [r["matched_in"] for r in got] == ["title or tags", "text"]


def test_what_works_candidates_and_outstanding(client):
    got = rows(client.get("/goodpractice/what_works.json?element=investigations&_shape=array"))
    titles = [r["title"] for r in got]
    assert CANDIDATE_TITLE in titles and all(r["practice"] for r in got)
    assert not any(r["title"] == XSS_TITLE for r in got)  # that one is 'response'
    cands = rows(client.get("/goodpractice/candidates_awaiting_validation.json?_shape=array"))
    assert {r["title"] for r in cands} >= {CANDIDATE_TITLE}
    out = rows(client.get("/goodpractice/outstanding_recommendations.json?_shape=array"))
    assert "completely" not in {r["met"] for r in out}
    # source: R1 partially; R3, R8 moderately; R6, R7, R9, R13 significantly
    assert [r["recommendation_code"] for r in out] == ["R1", "R3", "R8", "R6", "R7", "R9", "R13"]


def test_default_facets_and_descriptions_on_the_table(client):
    got = rows(client.get("/goodpractice/practices.json?_shape=objects"))
    assert set(got["facet_results"]) >= {"element", "status", "source", "unit"}
    statuses = {f["value"]: f["count"] for f in got["facet_results"]["status"]["results"]}
    assert statuses["candidate"] >= 1
    page = client.get("/goodpractice/practices")
    assert "candidate, validated, disseminated or did_not_work" in page.text


def test_practice_page_links_review_and_renders_markdown(client):
    page = client.get("/goodpractice/practices/review-durham-investigations-charge-rate")
    assert page.status_code == 200
    assert f'href="{REVIEW_HTML}"' in page.text
    assert "<em>candidate</em>" in page.text  # Markdown rendered
    # the table page (0.65 expands foreign keys there, not on row pages) links the review row
    table = client.get("/goodpractice/practices?id=review-durham-investigations-charge-rate")
    assert f'href="/goodpractice/reviews/{tilde_encode(REVIEW_ID)}"' in table.text
    review = client.get(f"/goodpractice/reviews/{tilde_encode(REVIEW_ID)}")
    assert f'href="{REVIEW_HTML}"' in review.text
    html = client.get(REVIEW_HTML)
    assert html.status_code == 200 and "Unit review: Durham" in html.text


def test_canned_query_tabs_show_their_title_not_their_sql(client):
    import re

    def title(url):
        return re.search(r"<title>(.*?)</title>", client.get(url).text, re.S).group(1).strip()

    assert title("/goodpractice/search_practices?q=cadets") == "Search practices - goodpractice"
    assert title("/goodpractice/outstanding_recommendations").startswith("Outstanding")
    # Arbitrary SQL pages keep Datasette's own title (the SQL, escaped).
    assert title("/goodpractice?sql=select+1+%3C+2") == "goodpractice: select 1 &lt; 2"


def test_hostile_text_is_escaped_or_stripped(client):
    pid = knowledge.practice_id(title=XSS_TITLE)
    for url in (f"/goodpractice/practices/{tilde_encode(pid)}", "/goodpractice/practices",
                "/goodpractice/search_practices?q=hostile"):
        text = client.get(url).text
        assert "<script>window.__xss" not in text
        assert "<img src=\"x\" onerror" not in text and "onerror=\"window" not in text
        assert 'href="javascript:' not in text
    page = client.get(f"/goodpractice/practices/{tilde_encode(pid)}").text
    assert "&lt;script&gt;" in page  # the title is shown, as text


def test_writes_through_datasette_are_refused(kb_site, client):
    db_path, reviews = kb_site
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    for url in ("/goodpractice/search_practices", "/goodpractice/practices/-/insert",
                "/goodpractice/-/query"):
        resp = client.post(url, json={"row": {"id": "x", "title": "x", "source": "review"}})
        assert resp.status_code >= 400, (url, resp.status_code)
    # even a canned query declared writable cannot write: the file is opened immutable
    meta = publish.metadata_for(db_path)
    meta["databases"]["goodpractice"]["queries"]["sneak"] = {
        "sql": "insert into practices (id, title, source) values (:id, 'x', 'review')",
        "write": True,
    }
    ds = make_ds(db_path, reviews, metadata=meta)
    resp = asyncio.run(ds.client.post("/goodpractice/sneak", data={"id": "sneaky"}))
    assert resp.status_code >= 400 or "readonly" in resp.text.lower() or "read-only" in resp.text
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    db = knowledge.open_kb(db_path)
    assert knowledge.practices(db, id="sneaky").empty
    db.close()


def test_metadata_follows_a_renamed_file(tmp_path):
    meta = publish.metadata_for(tmp_path / "other.db")
    assert "other" in meta["databases"] and "goodpractice" not in meta["databases"]
    assert "/other/search_practices" in meta["description_html"]


# ---------------------------------------------------------------- (2) a real server


def test_serve_command_is_read_only_and_local(tmp_path):
    cmd = publish.serve_command(tmp_path / "goodpractice.db", tmp_path / "reviews")
    assert cmd[1:4] == ["-m", "datasette", "serve"]
    assert "-i" in cmd and cmd[cmd.index("-h") + 1] == "127.0.0.1"
    assert ["--setting", "suggest_facets", "off"] == cmd[cmd.index("suggest_facets") - 1:][:3]
    assert "sql_time_limit_ms" in cmd
    assert f"reviews:{(tmp_path / 'reviews').resolve()}" in cmd


def get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode("utf-8")


def test_real_server_answers_json_and_static(live_server):
    status, body = get(f"{live_server}/-/versions.json")
    assert status == 200 and json.loads(body)["datasette"]["version"].startswith("0.65")
    settings = json.loads(get(f"{live_server}/-/settings.json")[1])
    assert settings["suggest_facets"] is False and settings["sql_time_limit_ms"] == 3000
    got = json.loads(get(f"{live_server}/goodpractice/search_practices.json?q=cadets"
                         "&_shape=array")[1])
    assert "Brent youth club" in got[0]["title"]
    status, body = get(f"{live_server}{REVIEW_HTML}")
    assert status == 200 and "Unit review: Durham" in body
    dbs = json.loads(get(f"{live_server}/-/databases.json")[1])
    assert dbs[0]["is_mutable"] is False


def test_real_server_refuses_writes(live_server, kb_site):
    db_path, _ = kb_site
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    for path in ("/goodpractice/search_practices?q=x", "/goodpractice/practices/-/insert"):
        req = urllib.request.Request(f"{live_server}{path}", method="POST",
                                     data=b'{"row": {"id": "x"}}',
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code >= 400
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_server_failure_shows_its_stderr(kb_site):
    db_path, reviews = kb_site
    busy = publish.free_port()
    code = (f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{busy})); "
            "s.listen(); time.sleep(30)")
    blocker = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.5)
        with pytest.raises(KnowledgeBaseError, match="datasette exited") as err:
            publish.start(db_path, reviews, port=busy, timeout=20)
        assert "address" in str(err.value).lower() or "error" in str(err.value).lower()
    finally:
        blocker.kill()
        blocker.wait()


def test_prepare_refuses_what_is_not_a_kb(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="no such knowledge base"):
        publish.prepare(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("create table t (x)").connection.close()
    with pytest.raises(KnowledgeBaseError, match="not a goodpractice knowledge base"):
        publish.prepare(other)


def test_serving_sees_writes_made_just_before(tmp_path):
    """An immutable reader ignores the WAL: prepare() must fold it in first."""
    db = knowledge.open_kb(tmp_path / "goodpractice.db")
    knowledge.add_practice(db, title="Fresh practice about lighthouses", source="review")
    # connection left open, WAL not checkpointed - as right after a batch of reviews
    with publish.running_server(tmp_path / "goodpractice.db") as base:
        got = json.loads(get(f"{base}/goodpractice/search_practices.json?q=lighthouses"
                             "&_shape=array")[1])
    db.close()
    assert [r["title"] for r in got] == ["Fresh practice about lighthouses"]


def test_markdown_tables_render_and_stay_sanitised(tmp_path):
    # Seed practices carry evidence tables in Markdown; a table cell must not let a script through.
    db_path = tmp_path / "goodpractice.db"
    db = knowledge.open_kb(db_path)
    summary = ("Results:\n\n| outcome | n |\n|---|---|\n| convicted | 37 |\n"
               "| <script>window.__xss=1</script> | 1 |\n")
    pid = knowledge.add_practice(db, title="Tabled results", summary=summary, source="scrutiny")
    knowledge.checkpoint(db)
    db.close()
    reviews = tmp_path / "reviews"
    reviews.mkdir()
    client = Client(db_path, reviews)
    try:
        page = client.get(f"/goodpractice/practices/{tilde_encode(pid)}").text
    finally:
        client.loop.close()
    assert "<table>" in page and "<td>convicted</td>" in page
    assert "<script>window.__xss" not in page
