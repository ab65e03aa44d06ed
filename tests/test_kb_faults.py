"""Reliability of knowledge-base writes: concurrent writers, a killed writer, errors mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from goodpractice import knowledge as kn
from goodpractice.errors import KnowledgeBaseError

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent("""
    import sys
    from goodpractice import knowledge as kn
    db = kn.open_kb(sys.argv[1])
    who = sys.argv[2]
    for i in range(int(sys.argv[3])):
        kn.record_review(
            db,
            {"notebook": "unit_review", "parameters": {"writer": who, "i": i}, "status": "ok"},
            [{"title": f"finding {who}-{i}", "unit": None, "summary": "concurrent write"}],
            [],
        )
    print("done", flush=True)
""")


def run_python(code: str, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_two_processes_writing_500_findings_each(tmp_path):
    path = tmp_path / "kb.db"
    kn.open_kb(path).close()
    procs = [run_python(WRITER, str(path), who, "500") for who in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    db = kn.open_kb(path)
    assert db["practices"].count == 1000 and db["reviews"].count == 1000
    titles = set(kn.practices(db)["title"])
    assert titles == {f"finding {w}-{i}" for w in "ab" for i in range(500)}
    # the full-text index saw every row too
    assert db.conn.execute("SELECT count(*) FROM practices_fts WHERE practices_fts MATCH "
                           "'concurrent'").fetchone()[0] == 1000
    assert integrity(path) == "ok"


KILLED = textwrap.dedent("""
    import sys, time
    from goodpractice import knowledge as kn
    db = kn.open_kb(sys.argv[1])
    with kn.transaction(db):
        for i in range(2000):
            db["practices"].insert({"id": f"doomed-{i}", "title": f"doomed {i}",
                                    "source": "review", "summary": "x" * 500})
        print("in transaction", flush=True)
        time.sleep(60)
""")


def test_sigkill_mid_transaction_leaves_nothing_and_no_damage(tmp_path):
    path = tmp_path / "kb.db"
    db = kn.open_kb(path)
    kept = kn.add_practice(db, title="committed before", source="review")
    db.close()
    p = run_python(KILLED, str(path))
    assert p.stdout.readline().strip() == "in transaction", p.stderr.read()
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    assert p.returncode == -signal.SIGKILL
    assert integrity(path) == "ok"
    db = kn.open_kb(path)
    assert kn.practices(db)["id"].tolist() == [kept]
    assert kn.search(db, "doomed").empty
    # the lock died with the process: the next writer proceeds at once
    start = time.monotonic()
    kn.add_practice(db, title="written after", source="review")
    assert time.monotonic() - start < 5
    assert db["practices"].count == 2


def _review_with(n_practices: int, method: str = "O/E") -> tuple[dict, list, list]:
    practices = [{"title": f"p{i}", "summary": "y" * 2000,
                  "evidence": [{"period": "2017-18", "estimate": 1.0, "method": method}]}
                 for i in range(n_practices)]
    return {"notebook": "unit_review", "parameters": {"n": n_practices}}, practices, []


def test_a_failing_row_rolls_back_the_whole_review(tmp_path):
    db = kn.open_kb(tmp_path / "kb.db")
    kn.add_practice(db, title="already there", source="review")
    before = kn.counts(db)
    # A real SQLite error raised by the database itself on the last row of the batch.
    db.conn.execute("CREATE TEMP TRIGGER boom BEFORE INSERT ON evidence "
                    "WHEN new.method = 'boom' BEGIN SELECT RAISE(ABORT, 'injected'); END")
    review, practices, _ = _review_with(5)
    practices[-1]["evidence"][0]["method"] = "boom"
    with pytest.raises(KnowledgeBaseError, match="injected.*|rolled back"):
        kn.record_review(db, review, practices, [])
    assert kn.counts(db) == before
    assert not db.conn.in_transaction
    assert integrity(tmp_path / "kb.db") == "ok"


def test_database_full_mid_write_leaves_it_consistent(tmp_path):
    path = tmp_path / "kb.db"
    db = kn.open_kb(path)
    kn.add_practice(db, title="already there", source="review")
    before = kn.counts(db)
    pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
    # SQLITE_FULL for real: the file may not grow by more than a few pages.
    db.conn.execute(f"PRAGMA max_page_count = {pages + 3}")
    review, practices, _ = _review_with(200)
    with pytest.raises(KnowledgeBaseError, match="full"):
        kn.record_review(db, review, practices, [])
    assert kn.counts(db) == before
    db.conn.execute("PRAGMA max_page_count = 1073741823")
    kn.record_review(db, *_review_with(3))  # and it is usable again
    assert db["practices"].count == before["practices"] + 3
    db.close()
    assert integrity(path) == "ok"


def test_an_os_error_between_writes_rolls_back(tmp_path, monkeypatch):
    db = kn.open_kb(tmp_path / "kb.db")
    before = kn.counts(db)
    real = kn._upsert

    def failing(db_, table, rows, pk):
        if table == "evidence":  # after reviews and practices were written in this transaction
            raise OSError(28, "No space left on device")
        return real(db_, table, rows, pk)

    monkeypatch.setattr(kn, "_upsert", failing)
    with pytest.raises(OSError):
        kn.record_review(db, *_review_with(4))
    monkeypatch.undo()
    assert kn.counts(db) == before and not db.conn.in_transaction


def test_a_locked_database_is_waited_for(tmp_path):
    """A second writer waits for the first to commit instead of failing."""
    path = tmp_path / "kb.db"
    kn.open_kb(path).close()
    holder = run_python(textwrap.dedent("""
        import sys, time
        from goodpractice import knowledge as kn
        db = kn.open_kb(sys.argv[1])
        with kn.transaction(db):
            db["practices"].insert({"id": "first", "title": "first", "source": "review"})
            print("locked", flush=True)
            time.sleep(1.5)
    """), str(path))
    assert holder.stdout.readline().strip() == "locked"
    start = time.monotonic()
    db = kn.open_kb(path)  # opening takes the write lock too (to migrate safely)
    kn.add_practice(db, title="second", source="review")
    waited = time.monotonic() - start
    holder.wait(10)
    assert holder.returncode == 0
    assert waited > 0.5  # it really waited for the lock
    assert set(kn.practices(db)["id"]) >= {"first"} and db["practices"].count == 2
