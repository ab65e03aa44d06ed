"""``goodpractice kb ...``: the knowledge-base commands, thin shells over goodpractice.knowledge.

Each command opens the database, makes one library call and turns known errors into a plain
message (exit code 1, no traceback). The lead wires the group in with ``main.add_command(kb)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pandas as pd

from goodpractice import knowledge, publish
from goodpractice.errors import GoodPracticeError

DEFAULT_DB = "output/goodpractice.db"


def db_option(fn: Callable) -> Callable:
    """--db, shared by every command (or the GOODPRACTICE_DB environment variable)."""
    return click.option(
        "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB,
        envvar="GOODPRACTICE_DB", show_default=True, help="The knowledge-base SQLite file.",
    )(fn)


def friendly(fn: Callable) -> Callable:
    """Known errors become a one-line click error instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GoodPracticeError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}") from None
    return wrapper


def _existing(db_path: Path) -> Any:
    if not db_path.exists():
        raise click.ClickException(f"{db_path}: no knowledge base here; run `goodpractice kb init "
                                   f"--db {db_path}` first")
    return knowledge.open_kb(db_path)


@click.group()
def kb() -> None:
    """The good-practice knowledge base: create, seed, add to, search and serve it.

    \b
    Example:
        goodpractice kb init && goodpractice kb seed
        goodpractice kb search "youth club"
        goodpractice kb serve --reviews output/reviews
    """


@kb.command("init")
@db_option
@friendly
def init_cmd(db_path: Path) -> None:
    """Create (or migrate) the knowledge base file.

    \b
    Example:
        goodpractice kb init --db output/goodpractice.db
    """
    db = knowledge.open_kb(db_path)
    click.echo(f"{db_path}: schema version {knowledge.SCHEMA_VERSION}, "
               f"{sum(knowledge.counts(db).values())} rows")


@kb.command("seed")
@db_option
@friendly
def seed_cmd(db_path: Path) -> None:
    """Load the records carried from the source reports (recommendations R1-R13, 2001/02
    objectives, Policing Model elements, reported practices). Safe to repeat.

    \b
    Example:
        goodpractice kb seed
    """
    from goodpractice.seeds import seed_kb

    db = knowledge.open_kb(db_path)
    for table, n in seed_kb(db).items():
        click.echo(f"{table}: {n}")


@kb.command("add-practice")
@db_option
@click.option("--title", required=True, help="What the practice is, in one line.")
@click.option("--summary", help="Markdown description.")
@click.option("--element", help="Policing Model element, e.g. investigations.")
@click.option("--unit", help="Unit where it was found.")
@click.option("--indicator", help="Outcome indicator it is associated with.")
@click.option("--status", type=click.Choice(knowledge.STATUSES), default="candidate",
              show_default=True)
@click.option("--source", type=click.Choice(knowledge.SOURCES), required=True)
@click.option("--rating", "evidence_rating", type=click.Choice(knowledge.RATINGS),
              default="none", show_default=True, help="Evidence rating.")
@click.option("--rating-method", help="The method that earned the rating.")
@click.option("--identified-on", help="Date identified, YYYY-MM-DD.")
@click.option("--contact", help="Team to ask about it.")
@click.option("--tags", help="Comma-separated keywords.")
@click.option("--citation", help="Where it is documented.")
@friendly
def add_practice_cmd(db_path: Path, **fields: Any) -> None:
    """Add one practice (or update it: the id is stable). Prints its id.

    \b
    Example:
        goodpractice kb add-practice --title "Monthly youth club sessions" \\
            --element neighbourhood_policing --source initiative --rating limited \\
            --tags "youth, confidence"
    """
    db = _existing(db_path)
    click.echo(knowledge.add_practice(db, **{k: v for k, v in fields.items() if v is not None}))


@kb.command("import")
@db_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def import_cmd(db_path: Path, file: Path) -> None:
    """Import practices from a CSV or YAML file: all rows are checked first, then written in one
    transaction - or none. Columns are those of the practices table.

    \b
    Example:
        goodpractice kb import practices.csv
    """
    db = _existing(db_path)
    ids = knowledge.import_practices(db, file)
    click.echo(f"{len(ids)} practices imported from {file.name}")


@kb.command("set-status")
@db_option
@click.argument("practice_id")
@click.argument("status", type=click.Choice(knowledge.STATUSES))
@click.option("--note", help="Why: the visit or pilot that decided it.")
@click.option("--on", "on", help="Date, YYYY-MM-DD (default today).")
@click.option("--rating", "evidence_rating", type=click.Choice(knowledge.RATINGS),
              help="New evidence rating earned.")
@click.option("--rating-method", help="The method that earned it.")
@friendly
def set_status_cmd(db_path: Path, practice_id: str, status: str, **opts: Any) -> None:
    """Move a practice along candidate -> validated -> disseminated, or to did_not_work.

    \b
    Example:
        goodpractice kb set-status review-durham-investigations-charge-rate validated \\
            --note "visit 2024-05-14" --rating moderate --rating-method "visit + comparison"
    """
    db = _existing(db_path)
    knowledge.set_status(db, practice_id, status, **opts)
    click.echo(f"{practice_id}: {status}")


@kb.command("update-recommendation")
@db_option
@click.argument("code")
@click.option("--met", type=click.Choice(knowledge.MET_LEVELS), help="Degree met.")
@click.option("--progress", help="Progress text (replaces the current text).")
@click.option("--on", "on", help="Date of the update, YYYY-MM-DD (default today).")
@friendly
def update_recommendation_cmd(db_path: Path, code: str, **opts: Any) -> None:
    """Record progress on a tracked recommendation.

    \b
    Example:
        goodpractice kb update-recommendation R8 --met significantly --on 2002-09-30
    """
    db = _existing(db_path)
    knowledge.update_recommendation(db, code, **opts)
    click.echo(f"{code}: updated")


@kb.command("search")
@db_option
@click.argument("query")
@click.option("--in", "table", type=click.Choice(["practices", "recommendations"]),
              default="practices", show_default=True)
@click.option("--limit", type=click.IntRange(1, 500), default=10, show_default=True)
@friendly
def search_cmd(db_path: Path, query: str, table: str, limit: int) -> None:
    """Ranked full-text search, best match first.

    \b
    Example:
        goodpractice kb search "murder review"
        goodpractice kb search appraisal --in recommendations
    """
    db = _existing(db_path)
    hits = knowledge.search(db, query, limit=limit, table=table)
    if hits.empty:
        click.echo("no matches")
        return
    key, title = ("id", "title") if table == "practices" else ("code", "subject")
    out = pd.DataFrame({key: hits[key], title: hits[title].str.slice(0, 70),
                        "rank": hits["rank"].round(2)})
    click.echo(out.to_string(index=False))


@kb.command("serve")
@db_option
@click.option("--reviews", "reviews_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of rendered reviews, served under /reviews/.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8001, show_default=True)
@friendly
def serve_cmd(db_path: Path, reviews_dir: Path | None, host: str, port: int) -> None:
    """Serve the knowledge base read-only with Datasette (Ctrl-C to stop).

    \b
    Example:
        goodpractice kb serve --reviews output/reviews
    """
    click.echo(f"serving {db_path} on http://{host}:{port}/ (read-only)", err=True)
    raise SystemExit(publish.serve(db_path, reviews_dir=reviews_dir, host=host, port=port))
