"""Shared knowledge-base fixtures (import them into a test module; conftest.py is the lead's).

    from kb_fixtures import kb_site, live_server  # noqa: F401
"""

from __future__ import annotations

from pathlib import Path

import pytest

from goodpractice import knowledge, publish
from goodpractice.seeds import seed_kb

# A payload in the title (plain text cell) and in the Markdown summary (rendered cell): both
# would set window.__xss if any script ran.
XSS_TITLE = "Hostile title <script>window.__xss=1;alert(1)</script>"
XSS_SUMMARY = (
    "Hostile **summary** <script>window.__xss=1;alert(1)</script> "
    '<img src=x onerror="window.__xss=1;alert(1)"> '
    "[click](javascript:window.__xss=1)"
)
REVIEW_ID = "unit_review-durham-2017-18"
REVIEW_HTML = "/reviews/unit_review-durham-2017-18.html"
CANDIDATE_TITLE = "Durham: above-peer investment in Investigations alongside a charge rate 1.4x expected"


def build_site(folder: Path) -> tuple[Path, Path]:
    """A knowledge base with the seed content, one review (with its rendered HTML) and its
    candidate practice, and one hostile practice. Returns (db_path, reviews_dir)."""
    folder.mkdir(parents=True, exist_ok=True)
    reviews = folder / "reviews"
    reviews.mkdir(exist_ok=True)
    (reviews / Path(REVIEW_HTML).name).write_text(
        "<!doctype html><html><head><title>Unit review: Durham 2017-18</title></head>"
        "<body><h1>Unit review: Durham 2017-18</h1><p>Candidate findings.</p></body></html>",
        encoding="utf-8",
    )
    db_path = folder / "goodpractice.db"
    db = knowledge.open_kb(db_path)
    seed_kb(db)
    knowledge.record_review(
        db,
        {"id": REVIEW_ID, "notebook": "unit_review",
         "parameters": {"unit": "Durham", "period": "2017-18"}, "status": "ok",
         "started": "2024-05-01T10:00:00", "duration_s": 2.5, "html": REVIEW_HTML,
         "data_vintage": "abc123"},
        [{"title": CANDIDATE_TITLE, "unit": "Durham", "element": "investigations",
          "indicator": "charge_rate",
          "summary": "A *candidate*: Durham charges more than expected. A question for an "
                     "inspector to test on a visit, never a conclusion.",
          "evidence": [{"indicator": "charge_rate", "period": "2017-18", "estimate": 1.4,
                        "ci_low": 1.2, "ci_high": 1.6,
                        "method": "observed/expected, cross-unit comparison, observational"}]}],
        [],
    )
    knowledge.add_practice(db, title=XSS_TITLE, summary=XSS_SUMMARY, source="inspection",
                           element="response", tags="hostile")
    knowledge.checkpoint(db)
    db.close()
    return db_path, reviews


@pytest.fixture(scope="module")
def kb_site(tmp_path_factory) -> tuple[Path, Path]:
    return build_site(tmp_path_factory.mktemp("kbsite"))


@pytest.fixture(scope="module")
def live_server(kb_site):
    db_path, reviews = kb_site
    with publish.running_server(db_path, reviews) as base:
        yield base
