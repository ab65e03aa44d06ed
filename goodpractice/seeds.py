"""Seed the knowledge base with the records carried from the source reports (``kb/seeds/*.yaml``).

The YAML files are the reconstructed content (each says how it was reconstructed and what could
not be recovered); this module only validates and loads them, in one transaction, by stable keys,
so seeding twice changes nothing.

    >>> from goodpractice.knowledge import open_kb
    >>> db = open_kb("output/goodpractice.db")   # doctest: +SKIP
    >>> seed_kb(db)                               # doctest: +SKIP
    {'elements': 11, 'recommendations': 13, 'objectives': 67, 'practices': 5, 'evidence': 4}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlite_utils
import yaml

from goodpractice.errors import KnowledgeBaseError
from goodpractice.kb_validation import MET_LEVELS, clean_evidence, clean_practice, refuse
from goodpractice.knowledge import _merge_practice, write

SEEDS_DIR = Path(__file__).resolve().parent.parent / "kb" / "seeds"
SEED_FILES = ("elements.yaml", "recommendations.yaml", "objectives.yaml", "practices.yaml")
_OBJECTIVE_FIELDS = ("id", "priority", "aspect", "objective_number", "objective",
                     "performance_indicator", "target", "target_status", "bvpi", "notes")
_RECOMMENDATION_FIELDS = ("code", "subject", "statutory", "lead", "due", "recommendation",
                          "progress", "met", "recovered", "notes")


def _load(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    if not path.exists():
        raise KnowledgeBaseError(f"seed file {path} is missing; the kb/seeds folder ships with "
                                 "the repository")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{name}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise KnowledgeBaseError(f"{name}: expected a mapping at the top level")
    return data


def _check_fields(name: str, i: int, rec: dict, allowed: tuple[str, ...]) -> list[str]:
    return [f"{name}, item {i}, column '{k}': expected one of {', '.join(allowed)}"
            for k in rec if k not in allowed]


def read_seeds(folder: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """The seed records, validated, as table name -> rows (nothing is written).

        >>> sorted(read_seeds())   # doctest: +SKIP
        ['elements', 'objectives', 'practices', 'recommendations']
    """
    folder = Path(folder) if folder else SEEDS_DIR
    problems: list[str] = []

    data = _load(folder, "elements.yaml")
    elements = [
        {"element": str(k), "label": v["label"], "description": v.get("description"),
         "functions": ", ".join(v.get("functions", []) or [])}
        for k, v in (data.get("elements") or {}).items()
    ]

    data = _load(folder, "recommendations.yaml")
    recommendations = []
    for i, rec in enumerate(data.get("recommendations") or [], start=1):
        problems += _check_fields("recommendations.yaml", i, rec, _RECOMMENDATION_FIELDS)
        if rec.get("met") is not None and rec["met"] not in MET_LEVELS:
            problems.append(f"recommendations.yaml, item {i}, column 'met': expected one of "
                            f"{', '.join(MET_LEVELS)}, got {rec['met']!r}")
        recommendations.append({
            **{k: rec.get(k) for k in _RECOMMENDATION_FIELDS},
            "recovered": rec.get("recovered") or None,
            "source_report": data["source_report"],
            "updated_on": str(data["updated_on"]),
        })

    data = _load(folder, "objectives.yaml")
    objectives = []
    for i, rec in enumerate(data.get("objectives") or [], start=1):
        problems += _check_fields("objectives.yaml", i, rec, _OBJECTIVE_FIELDS)
        if not rec.get("id"):
            problems.append(f"objectives.yaml, item {i}, column 'id': expected a stable id")
        objectives.append({**{k: rec.get(k) for k in _OBJECTIVE_FIELDS},
                           "plan_year": str(data["plan_year"]),
                           "source_report": data["source_report"]})

    data = _load(folder, "practices.yaml")
    practices = list(data.get("practices") or [])
    refuse(problems, "seed content")
    return {"elements": elements, "recommendations": recommendations,
            "objectives": objectives, "practices": practices}


def _resolve_unit(db: sqlite_utils.Database, unit: str | None) -> tuple[str | None, str | None]:
    """A seed names a place ('Brent'); the loaded panel may key it differently or not have it."""
    if unit is None or db["units"].count == 0:
        return unit, None
    row = db.conn.execute("SELECT unit FROM units WHERE unit = ? OR name = ? LIMIT 1",
                          [unit, unit]).fetchone()
    if row:
        return row[0], None
    return None, f"Reported for {unit}, which is not a unit of the loaded panel."


def seed_kb(db: sqlite_utils.Database, folder: str | Path | None = None) -> dict[str, int]:
    """Load the seed content (one transaction; upserts on stable keys). Returns rows per table.

    Elements are only added when missing, so a panel's own Policing Model labels are kept.

        >>> seed_kb(db)["recommendations"]   # doctest: +SKIP
        13
    """
    seeds = read_seeds(folder)

    def run(db: sqlite_utils.Database) -> dict[str, int]:
        db["elements"].insert_all(seeds["elements"], pk="element", ignore=True)
        db["recommendations"].upsert_all(seeds["recommendations"], pk="code")
        db["objectives"].upsert_all(seeds["objectives"], pk="id")
        problems: list[str] = []
        recs, evidence = [], []
        for i, fields in enumerate(seeds["practices"], start=1):
            fields = dict(fields)
            nested = fields.pop("evidence", None) or []
            fields["unit"], note = _resolve_unit(db, fields.get("unit"))
            if note:
                fields["notes"] = " ".join(x for x in (fields.get("notes"), note) if x)
            rec, p = clean_practice(db, fields, origin="practices.yaml", row=i)
            problems += p
            recs.append(rec)
            for ev in nested:
                e, p = clean_evidence({**ev, "practice_id": rec["id"]},
                                      origin=f"practices.yaml item {i} evidence")
                problems += p
                evidence.append(e)
        refuse(problems, "seed practices")
        db["practices"].upsert_all([_merge_practice(db, r) for r in recs], pk="id")
        if evidence:
            db["evidence"].upsert_all(evidence, pk="id")
        return {"elements": len(seeds["elements"]),
                "recommendations": len(seeds["recommendations"]),
                "objectives": len(seeds["objectives"]), "practices": len(recs),
                "evidence": len(evidence)}

    return write(db, run)
