"""The demo pipeline on the real example data, cut to two reviews so the suite stays quick.

`make demo` runs the same function over every batch of DEMO_BATCHES (benchmarks/bench_demo.py
times that); here one challenge month and one unit review go through every stage.
"""

from __future__ import annotations

import sqlite3

from goodpractice.demo import DEMO_BATCHES, PARAMETERS_DIR, describe, run_demo

SMALL = (
    {"notebook": "challenge_round", "title": "Challenge round: London, {period}",
     "parameters": {"dataset": "london", "period": "2023-12"}},
    "unit_review_dyfed_powys_2017-18.yaml",
)


def rows(db_path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        tables = [r[0] for r in conn.execute(
            "select name from sqlite_master where type='table' and name not like '%_fts%'")]
        return {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in tables}


def test_demo_builds_links_and_is_idempotent(tmp_path):
    out = tmp_path / "out"
    printed: list[str] = []
    result = run_demo(out, batches=SMALL, progress=False, echo=printed.append)
    reviews = result["reviews"]
    assert list(reviews["status"]) == ["ok", "ok"], reviews[["notebook", "status", "error"]]
    assert (out / "goodpractice.db").exists()
    assert (out / "reviews" / "index.html").exists()
    for html in reviews["html"]:
        assert (out / "reviews" / html.split("/")[-1]).exists()
    first = rows(out / "goodpractice.db")
    assert first["reviews"] == 2
    assert first["recommendations"] == 13
    assert first["units"] == 43 + 32
    with sqlite3.connect(out / "goodpractice.db") as conn:
        links = [r[0] for r in conn.execute("select html from reviews")]
    assert all(link.startswith("/reviews/") and link.endswith(".html") for link in links)
    assert any("Panel 'forces'" in p for p in printed)

    again = run_demo(out, batches=SMALL, progress=False, echo=lambda *_: None)
    assert again["reviews"]["skipped"].all()
    assert rows(out / "goodpractice.db") == first

    text = describe(result, out)
    assert "http://127.0.0.1:8001/goodpractice" in text
    assert "0 review(s) failed" in text


def test_every_demo_batch_exists_and_validates():
    from goodpractice.reviews.params import load_specs

    for name in DEMO_BATCHES:
        assert (PARAMETERS_DIR / name).exists(), name
        assert load_specs([PARAMETERS_DIR / name])
