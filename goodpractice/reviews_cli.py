"""`goodpractice reviews ...`: run, render and list parameterised review notebooks.

A thin shell over :mod:`goodpractice.reviews`. Exit status: 0 when every review is ok, 1 when
some failed (their count is printed; their notebooks and pages are kept), 2 for bad input (a
parameter file that does not validate).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from goodpractice.errors import GoodPracticeError


def _fail(exc: Exception) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(2)


out_option = click.option(
    "--out", "out_dir", default="output", show_default=True, type=click.Path(file_okay=False),
    help="Output folder: reviews go to OUT/reviews/, the knowledge base to OUT/goodpractice.db.",
)


@click.group()
def reviews() -> None:
    """Parameterised review notebooks: run batches, render them for reviewers, list them."""


@reviews.command()
@click.argument("param_files", nargs=-1, required=True, type=click.Path(exists=True))
@out_option
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (one kernel each).")
@click.option("--kb/--no-kb", default=True, show_default=True,
              help="Harvest findings into OUT/goodpractice.db.")
@click.option("--kb-path", type=click.Path(dir_okay=False), default=None,
              help="Another knowledge base file instead of OUT/goodpractice.db.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask cluster, e.g. tcp://10.0.0.5:8786, instead of local processes.")
@click.option("--force", is_flag=True, help="Run reviews again even if already done.")
@click.option("--notebooks-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Where notebook names are looked up (default: the repository's notebooks/).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def run(param_files, out_dir, workers, kb, kb_path, scheduler, force, notebooks_dir, progress):
    """Run the reviews of PARAM_FILES (YAML), render them and harvest their findings.

    Reviews already done for the same notebook, parameters and data are skipped, so an
    interrupted batch resumes where it stopped.

    \b
    Example:
      goodpractice reviews run parameters/unit_review_forces_2017-18.yaml --out output
    """
    from goodpractice.reviews.runner import run_batch

    executor = None
    if scheduler:
        from distributed import Client

        executor = Client(scheduler)
    try:
        df = run_batch(
            list(param_files), out_dir, executor=executor, max_workers=workers,
            kb_path=(kb_path or True) if kb else None, progress=progress,
            notebooks_dir=notebooks_dir, force=force,
        )
    except GoodPracticeError as exc:
        _fail(exc)
    finally:
        if executor is not None:
            executor.close()
    ran, skipped = int((~df["skipped"]).sum()), int(df["skipped"].sum())
    failed = df[df["status"] != "ok"]
    click.echo(
        f"{len(df)} review(s): {ran} ran, {skipped} already done, {len(failed)} failed. "
        f"Index: {Path(out_dir) / 'reviews' / 'index.html'}"
    )
    for row in failed.itertuples():
        click.echo(f"  failed: {row.title}: {row.error} -> {Path(out_dir) / row.ipynb}", err=True)
    sys.exit(1 if len(failed) else 0)


@reviews.command()
@out_option
def render(out_dir):
    """Render every executed review in OUT/reviews again, and its index page.

    \b
    Example:
      goodpractice reviews render --out output
    """
    from goodpractice.reviews.runner import rerender

    n = rerender(out_dir)
    click.echo(f"rendered {n} review(s); index: {Path(out_dir) / 'reviews' / 'index.html'}")


@reviews.command("list")
@click.argument("param_files", nargs=-1, type=click.Path(exists=True))
@out_option
def list_(param_files, out_dir):
    """List the reviews in OUT (or those PARAM_FILES would run, with their status in OUT).

    \b
    Example:
      goodpractice reviews list --out output
      goodpractice reviews list parameters/challenge_london_2023.yaml
    """
    from goodpractice.reviews.runner import plan, read_manifest

    manifest = read_manifest(Path(out_dir) / "reviews")
    if param_files:
        try:
            records = plan(list(param_files), out_dir)
        except GoodPracticeError as exc:
            _fail(exc)
        rows = [{**r, "status": manifest.get(r["id"], {}).get("status", "to run")}
                for r in records]
    else:
        rows = list(manifest.values())
    if not rows:
        click.echo("no reviews")
        return
    width = max(len(str(r.get("title", ""))) for r in rows)
    click.echo(f"{'id':16}  {'level':8}  {'status':7}  {'title':{width}}  html")
    for r in sorted(rows, key=lambda r: (str(r.get("level")), str(r.get("title")))):
        click.echo(
            f"{r['id']:16}  {r.get('level', '-')!s:8}  {r.get('status', ''):7}  "
            f"{r.get('title', '')!s:{width}}  {r.get('html') or ''}"
        )


if __name__ == "__main__":
    reviews()
