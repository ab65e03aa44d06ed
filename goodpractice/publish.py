"""Publish the knowledge base with Datasette: read-only, on 127.0.0.1, with rendered reviews.

``datasette serve -i`` opens the file immutable (read-only, no locking); ``--static reviews:DIR``
serves the rendered reviews that ``reviews.html`` links to; canned queries, column descriptions
and facets come from ``kb/metadata.yaml``; ``kb/plugins/`` turns stored review paths into links.

    >>> serve("output/goodpractice.db", reviews_dir="output/reviews")   # doctest: +SKIP
    >>> with running_server("output/goodpractice.db") as url:           # doctest: +SKIP
    ...     print(url)
    http://127.0.0.1:53124
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from goodpractice.errors import KnowledgeBaseError

KB_DIR = Path(__file__).resolve().parent.parent / "kb"
METADATA_PATH = KB_DIR / "metadata.yaml"
PLUGINS_DIR = KB_DIR / "plugins"
TEMPLATES_DIR = KB_DIR / "templates"  # a canned query's tab shows its title, not its SQL
DATABASE_NAME = "goodpractice"  # the key under `databases:` in metadata.yaml
SQL_TIME_LIMIT_MS = 3000


def metadata_for(db_path: str | Path, metadata_path: str | Path | None = None) -> dict[str, Any]:
    """The Datasette metadata for `db_path`: kb/metadata.yaml with its database section keyed by
    the file's stem (Datasette names a database after its file)."""
    path = Path(metadata_path) if metadata_path else METADATA_PATH
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeBaseError(f"cannot read Datasette metadata {path}: {exc}") from exc
    name = Path(db_path).stem
    dbs = meta.get("databases", {})
    if name != DATABASE_NAME and DATABASE_NAME in dbs:
        dbs[name] = dbs.pop(DATABASE_NAME)
        # Links written for the default name in the home page text.
        if "description_html" in meta:
            meta["description_html"] = meta["description_html"].replace(
                f"/{DATABASE_NAME}/", f"/{name}/"
            )
    return meta


def settings() -> dict[str, Any]:
    """Datasette settings used everywhere (server and in-process tests)."""
    # Facet suggestions cost ~0.5 s per table page at 100,000 rows; a time limit keeps a
    # pathological query from tying up the server.
    return {"suggest_facets": False, "sql_time_limit_ms": SQL_TIME_LIMIT_MS}


def prepare(db_path: str | Path) -> Path:
    """Check the file is a knowledge base and fold its WAL into the main file.

    An immutable reader ignores the -wal file, so without this a serve would miss recent writes.
    """
    path = Path(db_path)
    if not path.exists():
        raise KnowledgeBaseError(f"{path}: no such knowledge base; create it with `kb init`")
    try:
        conn = sqlite3.connect(str(path), timeout=30)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "practices" not in tables:
                raise KnowledgeBaseError(f"{path} is not a goodpractice knowledge base "
                                         "(no practices table); create one with `kb init`")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise KnowledgeBaseError(f"{path} is not a usable SQLite file: {exc}") from exc
    return path


def serve_command(
    db_path: str | Path,
    reviews_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8001,
    metadata_file: str | Path | None = None,
    sql_time_limit_ms: int = SQL_TIME_LIMIT_MS,
) -> list[str]:
    """The ``python -m datasette serve`` command line (immutable, suggestions off, time limit).

        >>> serve_command("kb.db")[1:4]
        ['-m', 'datasette', 'serve']
    """
    cmd = [
        sys.executable, "-m", "datasette", "serve",
        "-i", str(db_path),
        "-h", host, "-p", str(port),
        "-m", str(metadata_file or METADATA_PATH),
        "--plugins-dir", str(PLUGINS_DIR),
        "--template-dir", str(TEMPLATES_DIR),
        "--setting", "suggest_facets", "off",
        "--setting", "sql_time_limit_ms", str(sql_time_limit_ms),
    ]
    if reviews_dir is not None:
        cmd += ["--static", f"reviews:{Path(reviews_dir).resolve()}"]
    return cmd


def _metadata_file(db_path: Path, workdir: Path) -> Path:
    if db_path.stem == DATABASE_NAME:
        return METADATA_PATH
    out = workdir / "metadata.json"
    out.write_text(json.dumps(metadata_for(db_path)), encoding="utf-8")
    return out


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(
    db_path: str | Path,
    reviews_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 30.0,
) -> tuple[subprocess.Popen, str]:
    """Start Datasette in the background and wait until it answers; returns (process, base URL).

    If the server dies first, its stderr is in the raised error.
    """
    path = prepare(db_path)
    if reviews_dir is not None and not Path(reviews_dir).is_dir():
        raise KnowledgeBaseError(f"reviews folder {reviews_dir} does not exist")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="gp-datasette-"))
    cmd = serve_command(path, reviews_dir, host, port, _metadata_file(path, workdir))
    # A file, not a pipe: a full pipe would block the server. Closed by stop().
    log = open(workdir / "stderr.log", "w+b")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    proc.stderr_log = log  # type: ignore[attr-defined]  # closed by stop()
    base = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise KnowledgeBaseError(
                f"datasette exited with code {proc.returncode}:\n"
                + log.read().decode("utf-8", "replace")
            )
        try:
            with urllib.request.urlopen(f"{base}/-/versions.json", timeout=2) as resp:
                if resp.status == 200:
                    return proc, base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    proc.terminate()
    proc.wait(10)
    log.seek(0)
    raise KnowledgeBaseError(
        f"datasette did not answer on {base} within {timeout:.0f} s:\n"
        + log.read().decode("utf-8", "replace")
    )


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started by :func:`start`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    log = getattr(proc, "stderr_log", None)
    if log is not None and not log.closed:
        log.close()


@contextlib.contextmanager
def running_server(
    db_path: str | Path, reviews_dir: str | Path | None = None, port: int | None = None
) -> Iterator[str]:
    """A Datasette server for the duration of a ``with`` block; yields its base URL."""
    proc, base = start(db_path, reviews_dir, port=port)
    try:
        yield base
    finally:
        stop(proc)


def serve(
    db_path: str | Path,
    reviews_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8001,
) -> int:
    """Serve the knowledge base read-only in the foreground until interrupted; returns the exit code.

        >>> serve("output/goodpractice.db", reviews_dir="output/reviews")  # doctest: +SKIP
    """
    path = prepare(db_path)
    if reviews_dir is not None and not Path(reviews_dir).is_dir():
        raise KnowledgeBaseError(f"reviews folder {reviews_dir} does not exist")
    with tempfile.TemporaryDirectory(prefix="gp-datasette-") as workdir:
        cmd = serve_command(path, reviews_dir, host, port, _metadata_file(path, Path(workdir)))
        proc = subprocess.Popen(cmd)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            stop(proc)
            return 0
