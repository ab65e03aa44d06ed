"""The good-practice knowledge base: one SQLite file, written through sqlite-utils.

Schema and migrations live here and nowhere else (``MIGRATIONS``). Every write is one
``BEGIN IMMEDIATE`` transaction that is retried when another process holds the lock; keys are
stable text so re-running an import upserts and changes nothing. Reads return DataFrames.
The vocabularies, stable keys and row checks are in :mod:`goodpractice.kb_validation` (their
public names are re-exported here).

    >>> db = open_kb("output/goodpractice.db")                      # doctest: +SKIP
    >>> pid = add_practice(db, title="Youth club engagement", element="neighbourhood_policing",
    ...                    source="initiative", evidence_rating="limited")  # doctest: +SKIP
    >>> search(db, "youth club")[["id", "title", "rank"]]          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import sqlite_utils

from goodpractice.errors import KnowledgeBaseError
from goodpractice.kb_validation import (  # noqa: F401  (re-exported: the public names)
    EVIDENCE_FIELDS,
    MET_LEVELS,
    PRACTICE_FIELDS,
    RATINGS,
    REVIEW_FIELDS,
    SOURCES,
    STATUSES,
    TRANSITIONS,
    _blank,
    _date,
    _digest,
    _problem,
    clean_evidence,
    clean_practice,
    clean_review,
    evidence_id,
    practice_id,
    read_rows,
    refuse,
    review_id,
    slug,
)

T = TypeVar("T")


# Schema version N is reached by running MIGRATIONS[:N] in order; PRAGMA user_version records N.
# Text primary keys everywhere; CHECK constraints repeat the vocabularies so that even a
# hand-written INSERT cannot store a status the application does not know.
_FTS_PRACTICES = ("title", "summary", "tags", "element", "unit", "indicator")
_FTS_RECOMMENDATIONS = ("code", "subject", "recommendation", "progress", "lead")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _fts_sql(table: str, columns: tuple[str, ...]) -> str:
    # The same shape sqlite-utils' enable_fts(create_triggers=True) writes, so both sqlite-utils
    # and Datasette detect the index (content=[table]); written here so it runs inside the
    # migration transaction (enable_fts would commit half-way through).
    cols = ", ".join(f"[{c}]" for c in columns)
    new = ", ".join(f"new.[{c}]" for c in columns)
    old = ", ".join(f"old.[{c}]" for c in columns)
    fts = f"{table}_fts"
    return f"""
CREATE VIRTUAL TABLE [{fts}] USING FTS5 ({cols}, tokenize='porter unicode61', content=[{table}]);
CREATE TRIGGER [{table}_ai] AFTER INSERT ON [{table}] BEGIN
  INSERT INTO [{fts}] (rowid, {cols}) VALUES (new.rowid, {new});
END;
CREATE TRIGGER [{table}_ad] AFTER DELETE ON [{table}] BEGIN
  INSERT INTO [{fts}] ([{fts}], rowid, {cols}) VALUES('delete', old.rowid, {old});
END;
CREATE TRIGGER [{table}_au] AFTER UPDATE ON [{table}] BEGIN
  INSERT INTO [{fts}] ([{fts}], rowid, {cols}) VALUES('delete', old.rowid, {old});
  INSERT INTO [{fts}] (rowid, {cols}) VALUES (new.rowid, {new});
END;
"""


MIGRATIONS: list[str] = [
    f"""
CREATE TABLE elements (
  element TEXT PRIMARY KEY, label TEXT NOT NULL, description TEXT, functions TEXT
);
CREATE TABLE units (unit TEXT PRIMARY KEY, name TEXT, level TEXT, parent TEXT);
CREATE TABLE indicators (
  indicator TEXT PRIMARY KEY, label TEXT, kind TEXT, higher_is_better INTEGER, multiplier REAL
);
CREATE TABLE reviews (
  id TEXT PRIMARY KEY, notebook TEXT NOT NULL, parameters TEXT, status TEXT, started TEXT,
  duration_s REAL, html TEXT, data_vintage TEXT, error TEXT
);
CREATE TABLE practices (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  summary TEXT,
  element TEXT REFERENCES elements(element),
  unit TEXT REFERENCES units(unit),
  indicator TEXT REFERENCES indicators(indicator),
  status TEXT NOT NULL DEFAULT 'candidate' CHECK (status IN {_in(STATUSES)}),
  source TEXT NOT NULL CHECK (source IN {_in(SOURCES)}),
  evidence_rating TEXT NOT NULL DEFAULT 'none' CHECK (evidence_rating IN {_in(RATINGS)}),
  rating_method TEXT,
  identified_on TEXT,
  disseminated_on TEXT,
  contact TEXT,
  tags TEXT,
  review_id TEXT REFERENCES reviews(id),
  review_html TEXT,
  source_report TEXT,
  citation TEXT,
  notes TEXT
);
CREATE INDEX idx_practices_element ON practices(element);
CREATE INDEX idx_practices_status ON practices(status);
CREATE INDEX idx_practices_unit ON practices(unit);
CREATE TABLE evidence (
  id TEXT PRIMARY KEY,
  practice_id TEXT NOT NULL REFERENCES practices(id),
  indicator TEXT,
  period TEXT,
  measure TEXT,
  estimate REAL,
  ci_low REAL,
  ci_high REAL,
  method TEXT NOT NULL,
  review_id TEXT REFERENCES reviews(id),
  notes TEXT
);
CREATE INDEX idx_evidence_practice ON evidence(practice_id);
CREATE TABLE status_history (
  id TEXT PRIMARY KEY,
  practice_id TEXT NOT NULL REFERENCES practices(id),
  from_status TEXT, to_status TEXT NOT NULL, changed_on TEXT NOT NULL, note TEXT
);
CREATE TABLE recommendations (
  code TEXT PRIMARY KEY,
  source_report TEXT NOT NULL,
  subject TEXT,
  statutory TEXT,
  lead TEXT,
  due TEXT,
  recommendation TEXT,
  progress TEXT,
  met TEXT CHECK (met IS NULL OR met IN {_in(MET_LEVELS)}),
  updated_on TEXT,
  recovered TEXT,
  notes TEXT
);
CREATE TABLE objectives (
  id TEXT PRIMARY KEY,
  plan_year TEXT NOT NULL,
  priority TEXT,
  aspect TEXT,
  objective_number INTEGER,
  objective TEXT,
  performance_indicator TEXT,
  target TEXT,
  target_status TEXT,
  bvpi TEXT,
  source_report TEXT NOT NULL,
  notes TEXT
);
{_fts_sql("practices", _FTS_PRACTICES)}
{_fts_sql("recommendations", _FTS_RECOMMENDATIONS)}
""",
    # 2: whether an indicator's numerator counts events (a harm-weighted score does not).
    """
ALTER TABLE indicators ADD COLUMN counts INTEGER DEFAULT 1;
""",
]
SCHEMA_VERSION = len(MIGRATIONS)

_BUSY_TIMEOUT_MS = 30_000
_RETRIES = 8


# ---------------------------------------------------------------- connection and transactions


def _is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction: BEGIN IMMEDIATE takes the write lock up front (so two writers
    queue on the busy timeout instead of deadlocking on a lock upgrade); rollback on any error.

        >>> with transaction(db):                          # doctest: +SKIP
        ...     db["practices"].upsert({...}, pk="id")
    """
    if db.conn.in_transaction:
        raise KnowledgeBaseError(
            "a knowledge-base write was started inside another open transaction; "
            "commit or roll back first"
        )
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        try:
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise


def write(db: sqlite_utils.Database, fn: Callable[[sqlite_utils.Database], T]) -> T:
    """Run ``fn(db)`` in one transaction, retried with jittered back-off while the database is
    locked by another writer (beyond the busy timeout); ``fn`` must be safe to re-run."""
    for attempt in range(_RETRIES):
        try:
            with transaction(db):
                return fn(db)
        except sqlite3.Error as exc:
            if not _is_locked(exc) or attempt == _RETRIES - 1:
                raise KnowledgeBaseError(
                    f"knowledge base {_name(db)}: write failed and was rolled back ({exc})"
                ) from exc
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise KnowledgeBaseError(f"knowledge base {_name(db)}: still locked after {_RETRIES} tries")


def _name(db: sqlite_utils.Database) -> str:
    row = db.conn.execute("PRAGMA database_list").fetchone()
    return (row[2] if row and row[2] else ":memory:")


def open_kb(path: str | Path) -> sqlite_utils.Database:
    """Open (creating and migrating if needed) the knowledge base at `path`.

    WAL mode lets Datasette and readers work while one process writes; the busy timeout and
    :func:`write`'s retries let several writers share the file.

        >>> db = open_kb("output/goodpractice.db")   # doctest: +SKIP
        >>> sorted(db.table_names())[:3]             # doctest: +SKIP
        ['elements', 'evidence', 'indicators']
    """
    path = str(path)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise KnowledgeBaseError(f"cannot open knowledge base {path}: {exc}") from exc
    db = sqlite_utils.Database(conn)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        if path != ":memory:" and db.journal_mode != "wal":
            for attempt in range(_RETRIES):
                try:
                    db.enable_wal()
                    break
                except sqlite3.OperationalError as exc:
                    if not _is_locked(exc) or attempt == _RETRIES - 1:
                        raise
                    time.sleep(0.05 * 2**attempt)
        conn.execute("PRAGMA foreign_keys = OFF")  # references are for Datasette's links
        write(db, _migrate)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise KnowledgeBaseError(f"{path} is not a usable knowledge base: {exc}") from exc
    return db


def _migrate(db: sqlite_utils.Database) -> None:
    # Read the version inside the write lock, so two processes opening a fresh file at the same
    # moment cannot both apply migration 1.
    version = db.conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise KnowledgeBaseError(
            f"knowledge base schema version {version} is newer than this goodpractice "
            f"({SCHEMA_VERSION}); upgrade the package"
        )
    for number in range(version, SCHEMA_VERSION):
        for statement in _statements(MIGRATIONS[number]):
            db.conn.execute(statement)
        db.conn.execute(f"PRAGMA user_version = {number + 1}")


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT the open transaction, so split into complete statements.
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def rebuild_fts(db: sqlite_utils.Database) -> None:
    """Rebuild both full-text indexes from their tables (after a VACUUM, which may renumber rowids)."""
    def run(db: sqlite_utils.Database) -> None:
        for table in ("practices", "recommendations"):
            db.conn.execute(f"INSERT INTO [{table}_fts]([{table}_fts]) VALUES('rebuild')")
    write(db, run)


def checkpoint(db: sqlite_utils.Database) -> None:
    """Fold the WAL into the main file: an immutable (``datasette -i``) reader ignores the WAL."""
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# ---------------------------------------------------------------- writes


def _merge_practice(db: sqlite_utils.Database, rec: dict[str, Any]) -> dict[str, Any]:
    """What to store when `rec` meets the row already there (call inside the write transaction).

    Descriptive fields follow the newest record. The lifecycle is never reset by re-recording or
    re-importing: a status the practice has already passed is ignored, so an older file changes
    nothing. A status one legal step ahead (e.g. an import saying 'validated' for a candidate) is
    applied and logged in ``status_history`` exactly as :func:`set_status` would; a jump past a
    step (candidate -> disseminated) is refused, because the step between was never recorded.
    """
    row = db.conn.execute("SELECT * FROM practices WHERE id = ?", [rec["id"]]).fetchone()
    if row is None:
        return rec
    cols = [d[0] for d in db.conn.execute("SELECT * FROM practices LIMIT 0").description]
    old = dict(zip(cols, row))
    merged = {**old, **{k: v for k, v in rec.items() if v is not None}}
    current, wanted = old["status"], rec["status"]
    if wanted in TRANSITIONS[current]:
        day = dt.date.today().isoformat()
        if wanted == "disseminated" and not rec.get("disseminated_on"):
            merged["disseminated_on"] = day
        if rec.get("evidence_rating") in (None, "none"):  # the default: keep the earned rating
            merged["evidence_rating"] = old["evidence_rating"]
        db["status_history"].upsert(
            {"id": _digest(rec["id"], wanted, day), "practice_id": rec["id"],
             "from_status": current, "to_status": wanted, "changed_on": day,
             "note": "recorded by an import of the practice"},
            pk="id",
        )
    elif wanted != current and STATUSES.index(wanted) > STATUSES.index(current):
        allowed = ", ".join(TRANSITIONS[current]) or "nothing (final)"
        raise KnowledgeBaseError(
            f"practice {rec['id']!r} ({rec['title']!r}) is {current!r}: it can move to "
            f"{allowed}, not straight to {wanted!r}; record each step with `kb set-status`"
        )
    elif current != "candidate":
        for col in ("status", "evidence_rating", "rating_method", "disseminated_on"):
            merged[col] = old[col]
    if old.get("identified_on") and rec.get("identified_on"):
        merged["identified_on"] = min(old["identified_on"], rec["identified_on"])
    return merged


def _upsert(db: sqlite_utils.Database, table: str, rows: list[dict[str, Any]], pk: str) -> None:
    if rows:
        db[table].upsert_all(rows, pk=pk, alter=False)


def add_practice(db: sqlite_utils.Database, **fields: Any) -> str:
    """Add (or update, by its stable id) one practice; returns its id.

        >>> add_practice(db, title="Structured review of murder investigations",
        ...              element="investigations", source="inspection",
        ...              evidence_rating="limited", tags="homicide, review")  # doctest: +SKIP
        'structured-review-of-murder-investigations-3f0c1a2b'
    """
    evidence = fields.pop("evidence", None) or []
    rec, problems = clean_practice(db, fields)
    ev_rows = []
    for i, ev in enumerate(evidence, start=1):
        e, p = clean_evidence({**ev, "practice_id": ev.get("practice_id") or rec["id"]},
                              origin="evidence", row=i)
        ev_rows.append(e)
        problems += p
    refuse(problems, "practice")

    def run(db: sqlite_utils.Database) -> str:
        _upsert(db, "practices", [_merge_practice(db, rec)], "id")
        _upsert(db, "evidence", ev_rows, "id")
        return rec["id"]

    return write(db, run)


def import_practices(db: sqlite_utils.Database, path: str | Path) -> list[str]:
    """Import practices from a CSV or YAML file: every row is checked first, then all are
    written in one transaction (or none). Returns the ids, in file order.

    Errors name file, row (CSV: spreadsheet row, 1 = header; YAML: item number), column,
    value and what was expected.

        >>> import_practices(db, "practices.csv")   # doctest: +SKIP
        ['brent-youth-club-...', ...]
    """
    path = Path(path)
    if not path.exists():
        raise KnowledgeBaseError(f"{path}: no such file")
    problems: list[str] = []
    recs: list[dict[str, Any]] = []
    ev_rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row, fields in read_rows(path):
        evidence = fields.pop("evidence", None) or []
        rec, p = clean_practice(db, fields, origin=path.name, row=row)
        problems += p
        if rec["id"] in seen:
            problems.append(_problem(path.name, row, "id", rec["id"],
                                     f"a practice not already given in row {seen[rec['id']]}"))
        seen[rec["id"]] = row
        recs.append(rec)
        for ev in evidence if isinstance(evidence, list) else []:
            e, p = clean_evidence({**ev, "practice_id": ev.get("practice_id") or rec["id"]},
                                  origin=f"{path.name} row {row} evidence")
            ev_rows.append(e)
            problems += p
    refuse(problems, f"import of {path.name}")

    def run(db: sqlite_utils.Database) -> list[str]:
        _upsert(db, "practices", [_merge_practice(db, r) for r in recs], "id")
        _upsert(db, "evidence", ev_rows, "id")
        return [r["id"] for r in recs]

    return write(db, run)


def record_review(
    db: sqlite_utils.Database,
    review: dict[str, Any],
    practices: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
) -> str:
    """Record one review run with its candidate practices and their evidence, in ONE transaction.

    `review` has notebook, parameters (dict), status, started, duration_s, html (a served URL such
    as '/reviews/xyz.html'), data_vintage and optionally id (default: :func:`review_id`).
    Practices default to source 'review', status 'candidate', rating 'limited'; each is linked to
    the review. Evidence rows name their practice_id (or sit under a practice's 'evidence' key)
    and default to this review. Re-recording the same review changes nothing; a practice already
    validated keeps its status.

        >>> rid = record_review(db, {"notebook": "unit_review", "parameters": {"unit": "Durham"},
        ...                          "status": "ok", "html": "/reviews/unit_review-durham.html"},
        ...                     [{"title": "...", "unit": "Durham", "element": "investigations",
        ...                       "indicator": "charge_rate"}], [])   # doctest: +SKIP
    """
    rev, problems = clean_review(review)
    rid, started = rev["id"], rev["started"]
    identified = str(started)[:10] if started else None
    recs, ev_rows = [], []
    for i, fields in enumerate(practices, start=1):
        fields = dict(fields)
        nested = fields.pop("evidence", None) or []
        fields.setdefault("source", "review")
        fields.setdefault("evidence_rating", "limited")
        fields.setdefault("rating_method", "cross-unit comparison, observational")
        fields.setdefault("identified_on", identified)
        fields["review_id"] = rid
        fields["review_html"] = rev["html"]
        rec, p = clean_practice(db, fields, origin="practices", row=i)
        problems += p
        recs.append(rec)
        for ev in nested:
            e, p = clean_evidence({"review_id": rid, **ev, "practice_id": rec["id"]},
                                  origin=f"practices row {i} evidence")
            ev_rows.append(e)
            problems += p
    ids = {r["id"] for r in recs}
    for i, ev in enumerate(evidence, start=1):
        e, p = clean_evidence({"review_id": rid, **ev}, origin="evidence", row=i)
        problems += p
        if e["practice_id"] is not None and e["practice_id"] not in ids:
            exists = db.conn.execute("SELECT 1 FROM practices WHERE id = ?",
                                     [e["practice_id"]]).fetchone()
            if not exists:
                problems.append(_problem("evidence", i, "practice_id", e["practice_id"],
                                         "a practice of this review or already in the KB"))
        ev_rows.append(e)
    refuse(problems, f"review {rid}")

    def run(db: sqlite_utils.Database) -> str:
        _upsert(db, "reviews", [rev], "id")
        _upsert(db, "practices", [_merge_practice(db, r) for r in recs], "id")
        _upsert(db, "evidence", ev_rows, "id")
        return rid

    return write(db, run)


def set_status(
    db: sqlite_utils.Database,
    practice_id: str,  # noqa: F811  (the parameter shadows the key function here only)
    status: str,
    note: str | None = None,
    on: str | dt.date | None = None,
    evidence_rating: str | None = None,
    rating_method: str | None = None,
) -> None:
    """Move a practice along its lifecycle: candidate -> validated -> disseminated, or to
    did_not_work (kept on purpose). Illegal moves are refused; repeating the current status is a
    no-op. Validating usually earns a better `evidence_rating` - pass it with the method.

        >>> set_status(db, pid, "validated", note="inspection visit 2024-05",
        ...            evidence_rating="moderate", rating_method="visit")   # doctest: +SKIP
    """
    if status not in STATUSES:
        raise KnowledgeBaseError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    if evidence_rating is not None and evidence_rating not in RATINGS:
        raise KnowledgeBaseError(
            f"evidence_rating {evidence_rating!r}: expected one of {', '.join(RATINGS)}"
        )
    try:
        day = _date(on) if on is not None else dt.date.today().isoformat()
    except ValueError:
        raise KnowledgeBaseError(f"on={on!r}: expected a date as YYYY-MM-DD") from None

    def run(db: sqlite_utils.Database) -> None:
        row = db.conn.execute("SELECT status FROM practices WHERE id = ?", [practice_id]).fetchone()
        if row is None:
            raise KnowledgeBaseError(f"no practice with id {practice_id!r}; see `kb search`")
        current = row[0]
        if current == status:
            return
        if status not in TRANSITIONS[current]:
            allowed = ", ".join(TRANSITIONS[current]) or "nothing (final)"
            raise KnowledgeBaseError(
                f"practice {practice_id!r} is {current!r}: it can move to {allowed}, "
                f"not to {status!r}"
            )
        update: dict[str, Any] = {"status": status}
        if status == "disseminated":
            update["disseminated_on"] = day
        if evidence_rating is not None:
            update["evidence_rating"] = evidence_rating
        if rating_method is not None:
            update["rating_method"] = rating_method
        db["practices"].update(practice_id, update)
        db["status_history"].upsert(
            {"id": _digest(practice_id, status, day), "practice_id": practice_id,
             "from_status": current, "to_status": status, "changed_on": day, "note": note},
            pk="id",
        )

    write(db, run)


def update_recommendation(
    db: sqlite_utils.Database,
    code: str,
    met: str | None = None,
    progress: str | None = None,
    on: str | dt.date | None = None,
) -> None:
    """Record progress on a tracked recommendation (R1 ...): its 'met' level and/or progress text.

        >>> update_recommendation(db, "R8", met="significantly", progress="PIs for all groups")  # doctest: +SKIP
    """
    if met is None and progress is None:
        raise KnowledgeBaseError("update_recommendation: give met=... and/or progress=...")
    if met is not None and met not in MET_LEVELS:
        raise KnowledgeBaseError(f"met {met!r}: expected one of {', '.join(MET_LEVELS)}")
    try:
        day = _date(on) if on is not None else dt.date.today().isoformat()
    except ValueError:
        raise KnowledgeBaseError(f"on={on!r}: expected a date as YYYY-MM-DD") from None

    def run(db: sqlite_utils.Database) -> None:
        if db.conn.execute("SELECT 1 FROM recommendations WHERE code = ?", [code]).fetchone() is None:
            known = [r[0] for r in db.conn.execute(
                "SELECT code FROM recommendations ORDER BY CAST(substr(code, 2) AS INTEGER), code")]
            raise KnowledgeBaseError(
                f"no recommendation {code!r}; known: {', '.join(known) or 'none (run kb seed)'}"
            )
        update: dict[str, Any] = {"updated_on": day}
        if met is not None:
            update["met"] = met
        if progress is not None:
            update["progress"] = progress
        db["recommendations"].update(code, update)

    write(db, run)


def load_reference(db: sqlite_utils.Database, panel: Any) -> None:
    """Upsert a panel's elements, units and indicators (one transaction).

        >>> load_reference(db, goodpractice.load_example("forces"))   # doctest: +SKIP
    """
    elements = _records(panel.elements)
    units = _records(panel.units)
    indicators = _records(panel.indicators)
    for rec in indicators:
        for flag in ("higher_is_better", "counts"):
            if rec.get(flag) is not None:
                rec[flag] = int(bool(rec[flag]))

    def run(db: sqlite_utils.Database) -> None:
        _upsert(db, "elements", elements, "element")
        if units:
            # Context columns vary by panel: let the units table grow to hold them.
            db["units"].upsert_all(units, pk="unit", alter=True)
        _upsert(db, "indicators", indicators, "indicator")

    write(db, run)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict("records"):
        clean = {}
        for k, v in rec.items():
            if _blank(v) or v is pd.NA:
                clean[str(k)] = None
            elif hasattr(v, "item"):
                clean[str(k)] = v.item()
            else:
                clean[str(k)] = v
        out.append(clean)
    return out


# ---------------------------------------------------------------- reads


def read_table(db: sqlite_utils.Database, table: str, **filters: Any) -> pd.DataFrame:
    """A whole table (or the rows matching equality filters; a list means 'any of') as a DataFrame.

        >>> read_table(db, "recommendations", met=["partially", "moderately"])  # doctest: +SKIP
    """
    if table not in db.table_names() or table.endswith("_fts") or "_fts_" in table:
        raise KnowledgeBaseError(f"no table {table!r} in the knowledge base")
    columns = [c.name for c in db[table].columns]
    clauses, params = [], []
    for col, value in filters.items():
        if col not in columns:
            raise KnowledgeBaseError(
                f"{table}: cannot filter on {col!r}; columns are {', '.join(columns)}"
            )
        if value is None:
            continue
        if isinstance(value, (list, tuple, set)):
            values = list(value)
            clauses.append(f"[{col}] IN ({', '.join('?' * len(values))})")
            params += values
        else:
            clauses.append(f"[{col}] = ?")
            params.append(value)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    pk = db[table].pks[0]
    cur = db.conn.execute(f"SELECT * FROM [{table}]{where} ORDER BY [{pk}]", params)
    return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


def practices(db: sqlite_utils.Database, **filters: Any) -> pd.DataFrame:
    """Practices as a DataFrame, filtered by any column: ``practices(db, element="response",
    status=["validated", "disseminated"])``."""
    return read_table(db, "practices", **filters)


def fts_query(text: str) -> str:
    """Make user text safe for FTS5 MATCH: every word is quoted (all must occur)."""
    words = re.findall(r"\w+", text)
    return " ".join(f'"{w}"' for w in words)


_SEARCH_COLUMNS = {
    "practices": ("id", ["title", "summary", "element", "unit", "indicator", "status", "source",
                         "evidence_rating", "review_id"]),
    "recommendations": ("code", ["subject", "lead", "due", "recommendation", "progress", "met"]),
}
# Ranking costs ~1.5-3 microseconds per matching row (bm25 reads each row's column sizes and
# positions), so a word found in most of 100,000 practices took 100-200 ms to rank in full.
# Practices are therefore ranked within a window: the newest RANK_WINDOW matches - every match
# for any query matching fewer rows - and, as a first tier, the newest RANK_WINDOW matches in
# the title or tags, so a practice named for the words is never lost however common they are.
# kb/metadata.yaml's search_practices canned query is the same SQL (a test holds them equal).
RANK_WINDOW = 5000
_TITLE_COLUMNS = {"practices": "{title tags}"}


def _windowed_hits(fts: str, match: str, limit: str) -> str:
    # One pass over the newest RANK_WINDOW matches (FTS5 walks its doclists newest first and
    # stops there), bm25 computed for those rows only, then the best `limit` of them; ties go to
    # the newer practice. Finding the window's first rowid, then matching again from it, cost a
    # second walk of the doclists: two common words took 30 ms instead of 18 (100,000 rows).
    return (
        f"SELECT rowid, rank FROM (SELECT rowid, rank FROM [{fts}] WHERE [{fts}] MATCH {match} "
        f"ORDER BY rowid DESC LIMIT {RANK_WINDOW}) ORDER BY rank, rowid DESC LIMIT {limit}"
    )


def search(
    db: sqlite_utils.Database,
    query: str,
    limit: int = 20,
    table: str = "practices",
) -> pd.DataFrame:
    """Ranked full-text search (FTS5 bm25; lower `rank` = better match), best first.

    `table` is 'practices' or 'recommendations'. Words are matched with stemming ('patrols'
    finds 'patrol'); all words must occur. Practices whose title or tags hold every word come
    first (`matched_in` = 'title or tags', ranked by bm25 over those columns), then those that
    hold them elsewhere ('text'). A query matching more than RANK_WINDOW (5,000) practices is
    ranked within its newest 5,000 matches and newest 5,000 title/tag matches.

        >>> search(db, "youth club")[["id", "title", "matched_in", "rank"]]   # doctest: +SKIP
    """
    if table not in _SEARCH_COLUMNS:
        raise KnowledgeBaseError(f"search table {table!r}: expected practices or recommendations")
    match = fts_query(query or "")
    if not match:
        raise KnowledgeBaseError("search: give at least one word to look for")
    if not isinstance(limit, int) or limit < 1:
        raise KnowledgeBaseError(f"search: limit must be a positive whole number, got {limit!r}")
    key, cols = _SEARCH_COLUMNS[table]
    select = ", ".join(f"t.[{c}]" for c in [key, *cols])
    fts = f"{table}_fts"
    # Practices: the column with the best match (a title-tier hit highlights its title).
    snippet = f"snippet([{fts}], {-1 if table == 'practices' else 2}, '[', ']', '...', 12)"
    if table not in _TITLE_COLUMNS:
        sql = (
            f"WITH hits AS (SELECT rowid, rank, {snippet} AS snippet FROM [{fts}] "
            f"WHERE [{fts}] MATCH :m ORDER BY rank LIMIT :limit) "
            f"SELECT {select}, hits.snippet, hits.rank FROM hits JOIN [{table}] t "
            f"ON t.rowid = hits.rowid ORDER BY hits.rank"
        )
    else:
        titled = f"'{_TITLE_COLUMNS[table]} : (' || :m || ')'"
        # The snippet, for the rows shown only: the same match again, on one rowid each.
        snip = (f"(SELECT {snippet} FROM [{fts}] WHERE [{fts}] MATCH "
                f"CASE hits.tier WHEN 0 THEN {titled} ELSE :m END AND rowid = hits.rowid)")
        sql = (
            f"WITH titled AS ({_windowed_hits(fts, titled, ':limit')}), "
            f"anywhere AS ({_windowed_hits(fts, ':m', ':limit')}), "
            f"hits AS (SELECT rowid, 0 AS tier, rank FROM titled UNION ALL "
            f"SELECT rowid, 1, rank FROM anywhere "
            f"WHERE rowid NOT IN (SELECT rowid FROM titled)) "
            f"SELECT {select}, {snip} AS snippet, CASE hits.tier WHEN 0 THEN 'title or tags' "
            f"ELSE 'text' END AS matched_in, hits.rank FROM hits JOIN [{table}] t "
            f"ON t.rowid = hits.rowid ORDER BY hits.tier, hits.rank, hits.rowid DESC "
            f"LIMIT :limit"
        )
    cur = db.conn.execute(sql, {"m": match, "limit": limit})
    return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Rows per table (the FTS shadow tables left out)."""
    return {t: db[t].count for t in sorted(db.table_names()) if "_fts" not in t}
