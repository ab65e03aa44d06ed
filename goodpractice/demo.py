"""The demo: the whole pipeline on the embedded real data, from panels to a searchable knowledge base.

`goodpractice demo` (what `make demo` runs) does, in order:

1. loads both example panels (validated) and prints their summaries;
2. builds the knowledge base at ``OUT/goodpractice.db``: reference tables from both panels and the
   seed content of the five source reports (recommendations R1-R13, 2001/02 objectives, practices);
3. runs the review batches of ``parameters/`` (the London challenge rounds of 2023, a unit review of
   every force for 2017-18, a cluster review, an exceptions report, the investment returns) in worker
   processes, renders them to HTML under ``OUT/reviews/`` and harvests their findings;
4. prints what was done with the URLs, then serves Datasette on http://127.0.0.1:8001 (read-only).

Running it twice leaves the same rows: every write is an upsert on a stable key, and reviews already
done for the same notebook, parameters and data vintage are skipped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import pandas as pd

from goodpractice import knowledge
from goodpractice.panel import EXAMPLES, load_example
from goodpractice.seeds import seed_kb

PARAMETERS_DIR = Path(__file__).resolve().parent.parent / "parameters"

# The batches the demo runs, in the order a reviewer reads them (level 3 down to analysis).
DEMO_BATCHES = (
    "challenge_london_2023.yaml",
    "exceptions_london_2023-12.yaml",
    "cluster_review_wales_2017-18.yaml",
    "unit_review_forces_2017-18.yaml",
    "investment_returns_forces.yaml",
)


def build_knowledge_base(db_path: Path) -> dict[str, int]:
    """Reference tables from both example panels plus the seed reports; returns rows per table."""
    db = knowledge.open_kb(db_path)
    for name in EXAMPLES:
        knowledge.load_reference(db, load_example(name))
    seed_kb(db)
    return knowledge.counts(db)


def run_demo(
    out: Path,
    batches: tuple[str | dict, ...] = DEMO_BATCHES,
    max_workers: int = 2,
    progress: bool = True,
    echo: Any = click.echo,
) -> dict[str, Any]:
    """Build everything under `out`; returns the reviews table, KB counts and timings."""
    from goodpractice.reviews import run_batch

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLES:
        echo(load_example(name).summary())
        echo("")
    db_path = out / "goodpractice.db"
    counts = build_knowledge_base(db_path)
    echo(f"Knowledge base {db_path}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

    # A name is a parameter file of parameters/; a dict is a review spec in the same format.
    specs = [PARAMETERS_DIR / b if isinstance(b, str) else b for b in batches]
    reviews = run_batch(specs, out, kb_path=db_path, max_workers=max_workers, progress=progress)
    counts = knowledge.counts(knowledge.open_kb(db_path))
    elapsed = time.perf_counter() - started
    return {"reviews": reviews, "counts": counts, "db": db_path, "seconds": elapsed}


def describe(result: dict[str, Any], out: Path, base_url: str = "http://127.0.0.1:8001") -> str:
    """What the demo did, for a person: reviews by notebook and status, rows, where to look."""
    reviews: pd.DataFrame = result["reviews"]
    lines = [""]
    if not reviews.empty:
        table = reviews.groupby(["notebook", "status"]).size().unstack(fill_value=0)
        lines.append("Reviews (notebook x status):")
        lines.extend("  " + line for line in table.to_string().splitlines())
    failed = int((reviews["status"] == "failed").sum()) if not reviews.empty else 0
    lines += [
        "",
        "Knowledge base: " + ", ".join(f"{v} {k}" for k, v in result["counts"].items()),
        f"Built in {result['seconds']:.0f} s under {out}/ ({failed} review(s) failed).",
        "",
        f"  Reviews index   {out / 'reviews' / 'index.html'}",
        f"  Knowledge base  {base_url}/goodpractice",
        f"  Search          {base_url}/goodpractice/search_practices?q=youth",
        f"  What works      {base_url}/goodpractice/practices?status=candidate",
        f"  Recommendations {base_url}/goodpractice/outstanding_recommendations",
        f"  Reviews         {base_url}/reviews/index.html",
    ]
    return "\n".join(lines)
