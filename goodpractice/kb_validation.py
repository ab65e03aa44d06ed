"""Rows into the knowledge base: the vocabularies, stable keys and the checks every write makes.

Each ``clean_*`` function validates and normalises one record WITHOUT touching the database's
content, and returns ``(record, problems)``: the caller collects the problems of every row, then
refuses the whole write with one message (:func:`refuse`) that names file, row, column, the value
found and what was expected - so nothing is ever half-written. The writers are in
:mod:`goodpractice.knowledge`, which re-exports the public names here.

    >>> rec, problems = clean_evidence({"practice_id": "p1", "estimate": 2.0, "ci_low": 1.0,
    ...                                 "ci_high": 1.5, "method": "O/E"}, origin="evidence", row=3)
    >>> problems
    ["evidence, row 3, column 'estimate': expected a value inside [1.0, 1.5], got 2.0"]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import sqlite_utils
import yaml

from goodpractice.errors import KnowledgeBaseError

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


def refuse(problems: list[str], what: str) -> None:
    """Raise one KnowledgeBaseError listing every problem (the first 20), if there are any."""
    if problems:
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise KnowledgeBaseError(
            f"{what} refused, nothing was written ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(shown) + more
        )


def review_id(notebook: str, parameters: dict[str, Any] | None, data_vintage: str | None) -> str:
    """The stable key of a review: its notebook, parameters and data vintage (the resume key)."""
    params = json.dumps(parameters or {}, sort_keys=True, default=str)
    return f"{slug(Path(notebook).stem, 40)}-{_digest(notebook, params, data_vintage)}"


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
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


def clean_review(review: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Validate and normalise one review run (the ``reviews`` row); nothing is written.

    A review the problems make unusable (no notebook, parameters that are not JSON) raises at
    once, because its id cannot be computed.
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
    if not isinstance(params, dict):
        problems.append(_problem("review", None, "parameters", params,
                                 "a mapping of parameter names to values"))
        params = {}
    refuse(problems, "review")
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
    return rev, problems
