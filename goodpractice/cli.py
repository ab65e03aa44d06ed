"""The command line: a thin shell over the API. `goodpractice --help` lists the commands."""

from __future__ import annotations

import sys

import click

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
