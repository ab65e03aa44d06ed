"""The good-practice knowledge base: one SQLite file, written through sqlite-utils.

Schema and migrations live here and nowhere else (``MIGRATIONS``). Every write is one
``BEGIN IMMEDIATE`` transaction that is retried when another process holds the lock; keys are
stable text so re-running an import upserts and changes nothing. Reads return DataFrames.

    >>> db = open_kb("output/goodpractice.db")                      # doctest: +SKIP
    >>> pid = add_practice(db, title="Youth club engagement", element="neighbourhood_policing",
    ...                    source="initiative", evidence_rating="limited")  # doctest: +SKIP
    >>> search(db, "youth club")[["id", "title", "rank"]]          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import sqlite_utils
import yaml

from goodpractice.errors import KnowledgeBaseError

T = TypeVar("T")

STATUSES = ("candidate", "validated", "disseminated", "did_not_work")
# The lifecycle: a candidate is tested, a validated practice is spread; a practice that failed is
# kept (as did_not_work) because knowing what does not work is knowledge too.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "candidate": ("validated", "did_not_work"),
    "validated": ("disseminated", "did_not_work"),
    "disseminated": ("did_not_work",),
    "did_not_work": (),
}
SOURCES = ("review", "inspection", "HMIC", "scrutiny", "initiative")
RATINGS = ("strong", "moderate", "limited", "none")
MET_LEVELS = ("not", "partially", "moderately", "significantly", "completely")

PRACTICE_FIELDS = (
    "id", "title", "summary", "element", "unit", "indicator", "status", "source",
    "evidence_rating", "rating_method", "identified_on", "disseminated_on", "contact", "tags",
    "review_id", "review_html", "source_report", "citation", "notes",
)
EVIDENCE_FIELDS = (
    "id", "practice_id", "indicator", "period", "measure", "estimate", "ci_low", "ci_high",
    "method", "review_id", "notes",
)
REVIEW_FIELDS = (
    "id", "notebook", "parameters", "status", "started", "duration_s", "html", "data_vintage",
    "error",
)
_DATE_FIELDS = ("identified_on", "disseminated_on")

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


# ---------------------------------------------------------------- validation helpers


def slug(text: str, max_len: int = 60) -> str:
    """Lower-case ASCII words joined by '-': 'Brent youth club' -> 'brent-youth-club'."""
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return s[:max_len].rstrip("-") or "x"


def _digest(*parts: Any) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def practice_id(
    *,
    title: str,
    unit: str | None = None,
    element: str | None = None,
    indicator: str | None = None,
    source: str | None = None,
) -> str:
    """The stable key of a practice.

    A review's candidate is identified by what it is about (source, unit, element, indicator),
    so the next review of the same unit adds evidence to the same practice; anything else by
    its title.

        >>> practice_id(title="x", unit="Durham", element="investigations",
        ...             indicator="charge_rate", source="review")
        'review-durham-investigations-charge-rate'
    """
    if unit and element and indicator:
        return slug(f"{source or 'practice'}-{unit}-{element}-{indicator}", 120)
    norm = " ".join(str(title).lower().split())
    return f"{slug(norm)}-{_digest(norm)[:8]}"


def evidence_id(row: dict[str, Any]) -> str:
    """Evidence is keyed on (practice_id, indicator, period, method, review_id)."""
    return _digest(row.get("practice_id"), row.get("indicator"), row.get("period"),
                   row.get("method"), row.get("review_id"), row.get("measure"))


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _where(origin: str | None, row: int | None, column: str) -> str:
    parts = [p for p in (origin, f"row {row}" if row is not None else None) if p]
    parts.append(f"column '{column}'")
    return ", ".join(parts)


def _problem(origin: str | None, row: int | None, column: str, value: Any, expected: str) -> str:
    return f"{_where(origin, row, column)}: expected {expected}, got {value!r}"


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    dt.date.fromisoformat(text)  # raises ValueError
    return text


def _number(value: Any) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError("not finite")
    return number


def _known(db: sqlite_utils.Database, table: str, column: str) -> set[str] | None:
    # Reference tables are only enforced once loaded: a fresh KB accepts any element name.
    rows = db.conn.execute(f"SELECT [{column}] FROM [{table}]").fetchall()
    return {r[0] for r in rows} or None


def clean_practice(
    db: sqlite_utils.Database,
    fields: dict[str, Any],
    *,
    origin: str | None = None,
    row: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Validate and normalise one practice; returns (record, problems). Nothing is written."""
    problems: list[str] = []
    rec: dict[str, Any] = {}
    unknown = sorted(set(fields) - set(PRACTICE_FIELDS) - {"evidence"})
    for col in unknown:
        problems.append(_problem(origin, row, col, fields[col],
                                 f"one of the practice columns ({', '.join(PRACTICE_FIELDS)})"))
    for col in PRACTICE_FIELDS:
        value = fields.get(col)
        rec[col] = None if _blank(value) else value
    if rec["title"] is None:
        problems.append(_problem(origin, row, "title", fields.get("title"), "a non-empty title"))
    else:
        rec["title"] = " ".join(str(rec["title"]).split())
        if len(rec["title"]) > 300:
            problems.append(_problem(origin, row, "title", rec["title"][:40] + "...",
                                     "a title of at most 300 characters"))
    rec["status"] = rec["status"] or "candidate"
    rec["evidence_rating"] = rec["evidence_rating"] or "none"
    for col, allowed in (("status", STATUSES), ("source", SOURCES),
                         ("evidence_rating", RATINGS)):
        if rec[col] not in allowed:
            problems.append(_problem(origin, row, col, fields.get(col), f"one of {', '.join(allowed)}"))
    for col in _DATE_FIELDS:
        if rec[col] is not None:
            try:
                rec[col] = _date(rec[col])
            except ValueError:
                problems.append(_problem(origin, row, col, rec[col], "a date as YYYY-MM-DD"))
    tags = rec["tags"]
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if tags is not None:
        if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
            problems.append(_problem(origin, row, "tags", tags, "a list of words or 'a, b, c'"))
        else:
            rec["tags"] = json.dumps(sorted(set(tags)))
    for col, table in (("element", "elements"), ("unit", "units"), ("indicator", "indicators")):
        if rec[col] is None:
            continue
        rec[col] = str(rec[col])
        known = _known(db, table, col)
        if known is not None and rec[col] not in known:
            shown = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
            problems.append(_problem(origin, row, col, rec[col], f"a known {col} ({shown})"))
    for col in ("summary", "contact", "rating_method", "source_report", "citation", "notes",
                "review_id", "review_html"):
        if rec[col] is not None:
            rec[col] = str(rec[col])
    if rec["id"] is None and rec["title"] is not None:
        rec["id"] = practice_id(title=rec["title"], unit=rec["unit"], element=rec["element"],
                                indicator=rec["indicator"], source=rec["source"])
    elif rec["id"] is not None:
        rec["id"] = str(rec["id"]).strip()
    return rec, problems


def clean_evidence(
    fields: dict[str, Any], *, origin: str | None = None, row: int | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Validate one evidence row (estimate inside its interval, a method); nothing is written."""
    problems: list[str] = []
    rec = {c: (None if _blank(fields.get(c)) else fields.get(c)) for c in EVIDENCE_FIELDS}
    for col in sorted(set(fields) - set(EVIDENCE_FIELDS)):
        problems.append(_problem(origin, row, col, fields[col],
                                 f"one of the evidence columns ({', '.join(EVIDENCE_FIELDS)})"))
    if rec["practice_id"] is None:
        problems.append(_problem(origin, row, "practice_id", None, "the practice it supports"))
    if rec["method"] is None:
        problems.append(_problem(origin, row, "method", None,
                                 "the method that produced it, e.g. 'cross-unit comparison, "
                                 "observational'"))
    for col in ("estimate", "ci_low", "ci_high"):
        if rec[col] is not None:
            try:
                rec[col] = _number(rec[col])
            except (TypeError, ValueError):
                problems.append(_problem(origin, row, col, rec[col], "a finite number"))
                rec[col] = None
    lo, est, hi = rec["ci_low"], rec["estimate"], rec["ci_high"]
    if lo is not None and hi is not None and lo > hi:
        problems.append(_problem(origin, row, "ci_low", lo, f"ci_low <= ci_high ({hi})"))
    elif est is not None and ((lo is not None and est < lo) or (hi is not None and est > hi)):
        problems.append(_problem(origin, row, "estimate", est, f"a value inside [{lo}, {hi}]"))
    for col in ("practice_id", "indicator", "period", "measure", "method", "review_id", "notes"):
        if rec[col] is not None:
            rec[col] = str(rec[col])
    rec["id"] = rec["id"] or evidence_id(rec)
    return rec, problems


def _raise(problems: list[str], what: str) -> None:
    if problems:
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise KnowledgeBaseError(
            f"{what} refused, nothing was written ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(shown) + more
        )


# ---------------------------------------------------------------- writes


def _merge_practice(db: sqlite_utils.Database, rec: dict[str, Any]) -> dict[str, Any]:
    """What to store when `rec` meets the row already there: the lifecycle (status, dates, an
    earned rating) is never reset by re-recording; descriptive fields follow the newest record."""
    row = db.conn.execute("SELECT * FROM practices WHERE id = ?", [rec["id"]]).fetchone()
    if row is None:
        return rec
    cols = [d[0] for d in db.conn.execute("SELECT * FROM practices LIMIT 0").description]
    old = dict(zip(cols, row))
    merged = {**old, **{k: v for k, v in rec.items() if v is not None}}
    if old["status"] != "candidate":
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
    _raise(problems, "practice")

    def run(db: sqlite_utils.Database) -> str:
        _upsert(db, "practices", [_merge_practice(db, rec)], "id")
        _upsert(db, "evidence", ev_rows, "id")
        return rec["id"]

    return write(db, run)


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(spreadsheet row, record) pairs from a CSV (row 1 = header) or YAML list of mappings."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise KnowledgeBaseError(f"{path.name}: not a readable CSV file ({exc})") from exc
        return [(i + 2, {k: (v if v != "" else None) for k, v in rec.items()})
                for i, rec in enumerate(df.to_dict("records"))]
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise KnowledgeBaseError(f"{path.name}: not valid YAML ({exc})") from exc
        if isinstance(data, dict) and "practices" in data:
            data = data["practices"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise KnowledgeBaseError(
                f"{path.name}: expected a list of practices (mappings), optionally under "
                "'practices:'"
            )
        return list(enumerate(data, start=1))
    raise KnowledgeBaseError(f"{path.name}: expected a .csv, .yaml or .yml file, got '{suffix}'")


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
    for row, fields in _read_rows(path):
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
    _raise(problems, f"import of {path.name}")

    def run(db: sqlite_utils.Database) -> list[str]:
        _upsert(db, "practices", [_merge_practice(db, r) for r in recs], "id")
        _upsert(db, "evidence", ev_rows, "id")
        return [r["id"] for r in recs]

    return write(db, run)


def review_id(notebook: str, parameters: dict[str, Any] | None, data_vintage: str | None) -> str:
    """The stable key of a review: its notebook, parameters and data vintage (the resume key)."""
    params = json.dumps(parameters or {}, sort_keys=True, default=str)
    return f"{slug(Path(notebook).stem, 40)}-{_digest(notebook, params, data_vintage)}"


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
    problems: list[str] = []
    unknown = sorted(set(review) - set(REVIEW_FIELDS))
    for col in unknown:
        problems.append(_problem("review", None, col, review[col],
                                 f"one of the review fields ({', '.join(REVIEW_FIELDS)})"))
    if _blank(review.get("notebook")):
        problems.append(_problem("review", None, "notebook", review.get("notebook"),
                                 "the notebook's name"))
    params = review.get("parameters") or {}
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError:
            problems.append(_problem("review", None, "parameters", params, "a JSON object"))
            params = {}
    _raise(problems, "review")
    rid = str(review.get("id") or review_id(review["notebook"], params, review.get("data_vintage")))
    started = review.get("started")
    if isinstance(started, (dt.datetime, dt.date)):
        started = started.isoformat()
    html = review.get("html")
    if html is not None and not _blank(html):
        html = str(html)
        if not html.startswith(("/", "http")):
            problems.append(_problem("review", None, "html", html,
                                     "a served URL such as '/reviews/name.html'"))
    duration = review.get("duration_s")
    try:
        duration = None if _blank(duration) else _number(duration)
    except (TypeError, ValueError):
        problems.append(_problem("review", None, "duration_s", duration, "seconds as a number"))
    rev = {
        "id": rid,
        "notebook": str(review["notebook"]),
        "parameters": json.dumps(params, sort_keys=True, default=str),
        "status": review.get("status"),
        "started": None if started is None else str(started),
        "duration_s": duration,
        "html": html or None,
        "data_vintage": review.get("data_vintage"),
        "error": review.get("error"),
    }
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
    _raise(problems, f"review {rid}")

    def run(db: sqlite_utils.Database) -> str:
        _upsert(db, "reviews", [rev], "id")
        _upsert(db, "practices", [_merge_practice(db, r) for r in recs], "id")
        _upsert(db, "evidence", ev_rows, "id")
        return rid

    return write(db, run)


def set_status(
    db: sqlite_utils.Database,
    practice_id: str,
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
        if rec.get("higher_is_better") is not None:
            rec["higher_is_better"] = int(bool(rec["higher_is_better"]))

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


def search(
    db: sqlite_utils.Database,
    query: str,
    limit: int = 20,
    table: str = "practices",
) -> pd.DataFrame:
    """Ranked full-text search (FTS5 bm25; lower `rank` = better match), best first.

    `table` is 'practices' or 'recommendations'. Words are matched with stemming ('patrols'
    finds 'patrol'); all words must occur.

        >>> search(db, "youth club")[["id", "title", "rank"]]   # doctest: +SKIP
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
    snippet_col = 1 if table == "practices" else 2  # summary / recommendation
    sql = (
        f"WITH hits AS (SELECT rowid, rank, snippet([{table}_fts], {snippet_col}, '[', ']', "
        f"'...', 12) AS snippet FROM [{table}_fts] WHERE [{table}_fts] MATCH ? "
        f"ORDER BY rank LIMIT ?) "
        f"SELECT {select}, hits.snippet, hits.rank FROM hits JOIN [{table}] t "
        f"ON t.rowid = hits.rowid ORDER BY hits.rank"
    )
    cur = db.conn.execute(sql, [match, limit])
    return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Rows per table (the FTS shadow tables left out)."""
    return {t: db[t].count for t in sorted(db.table_names()) if "_fts" not in t}
