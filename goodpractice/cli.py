"""The command line: a thin shell over the API. `goodpractice --help` lists the commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from goodpractice.errors import GoodPracticeError
from goodpractice.panel import EXAMPLES, Panel, load_example, read_panel


def load(source: str) -> Panel:
    """A panel from an example name ('forces', 'london') or a folder path."""
    return load_example(source) if source in EXAMPLES else read_panel(source)


class Friendly(click.Group):
    """Turns the package's known errors into a plain message and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GoodPracticeError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=Friendly)
@click.version_option(package_name="goodpractice")
def main() -> None:
    """goodpractice: which police units do well, why, and what the others can learn from them."""


@main.command()
@click.argument("panel")
def check(panel: str) -> None:
    """Check a panel folder against the data contract and summarise it.

    PANEL is a folder or the name of an embedded example (forces, london).

    \b
    Example:
      goodpractice check goodpractice/examples/forces
      goodpractice check london
    """
    click.echo(load(panel).summary())


def _print_table(df, fmt: str) -> None:
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(df.to_json(orient="records", indent=2))
    else:
        with pd.option_context("display.max_colwidth", 120, "display.width", 200):
            click.echo(df.to_string(index=False))


format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True, help="How to print the result.",
)


@main.command()
@click.argument("panel")
@click.option("--indicator", "-i", default=None, help="One indicator (default: all).")
@click.option("--period", "-p", default=None, help="The period judged (default: the latest).")
@click.option("--category", type=click.Choice(["top", "typical", "coasting", "poor"]),
              default=None, help="Show only this category.")
@format_option
def classify(panel: str, indicator: str | None, period: str | None, category: str | None,
             fmt: str) -> None:
    """Classify every unit as top, typical, coasting or poor, with the reason.

    \b
    Example:
      goodpractice classify london -i crime_burglary -p 2024-01 --category poor
    """
    from goodpractice.classify import classify as run

    df = run(load(panel), indicator=indicator, period=period)
    if category:
        df = df[df["category"] == category]
    columns = ["unit", "indicator", "period", "category", "z", "reason"]
    _print_table(df[columns] if fmt == "table" else df, fmt)


@main.command()
@click.argument("panel")
@click.option("--indicator", "-i", default=None, help="One indicator (default: all).")
@click.option("--period", "-p", default=None, help="The period (default: the latest).")
@format_option
def compare(panel: str, indicator: str | None, period: str | None, fmt: str) -> None:
    """The four comparators (peers, direction of travel, national, target) per unit.

    \b
    Example:
      goodpractice compare forces -i charge_rate -p 2017-18
    """
    from goodpractice.compare import compare as run

    df = run(load(panel), indicator=indicator, period=period)
    columns = ["unit", "indicator", "period", "value", "peer_value", "peer_verdict",
               "trend_verdict", "national_verdict", "target_status"]
    _print_table(df[columns] if fmt == "table" else df, fmt)


@main.command()
@click.argument("panel")
@click.argument("period")
@click.option("--coasting", "n_coasting", default=2, show_default=True)
@click.option("--poor", "n_poor", default=1, show_default=True)
@format_option
def challenge(panel: str, period: str, n_coasting: int, n_poor: int, fmt: str) -> None:
    """Select the units for this period's challenge (2 coasting, 1 poor by default).

    \b
    Example:
      goodpractice challenge london 2023-12
    """
    from goodpractice.challenge import select_for_challenge

    df = select_for_challenge(load(panel), period, n_coasting=n_coasting, n_poor=n_poor)
    if fmt != "table":
        _print_table(df, fmt)
        return
    _print_table(df[["period", "category", "rank", "unit", "severity", "severity_measure"]], fmt)
    click.echo("")
    for row in df.itertuples():
        click.echo(f"{row.unit}: {row.reason}")


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default="output", show_default=True,
              help="Where everything built goes: OUT/goodpractice.db and OUT/reviews/.")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve Datasette on 127.0.0.1 when done.")
@click.option("--port", default=8001, show_default=True)
@click.option("--workers", default=2, show_default=True, help="Worker processes for reviews.")
def demo(out, serve: bool, port: int, workers: int) -> None:
    """Build the knowledge base and reviews from the embedded real data, then serve them.

    \b
    Example:
      goodpractice demo --no-serve --out /tmp/gp
    """
    from goodpractice import publish
    from goodpractice.demo import describe, run_demo

    result = run_demo(out, max_workers=workers)
    click.echo(describe(result, out, f"http://127.0.0.1:{port}"))
    if serve:
        click.echo(f"\nServing read-only on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        sys.exit(publish.serve(result["db"], out / "reviews", port=port))


def _register() -> None:
    from goodpractice.knowledge_cli import kb
    from goodpractice.reviews_cli import reviews

    main.add_command(kb)
    main.add_command(reviews)


_register()
