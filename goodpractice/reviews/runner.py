"""Run batches of review notebooks in worker processes, render them, harvest their findings.

    >>> from goodpractice.reviews import run_batch
    >>> df = run_batch(["parameters/unit_review_forces_2017-18.yaml"], "output",
    ...                kb_path="output/goodpractice.db")          # doctest: +SKIP
    >>> (df.status == "failed").sum()                             # doctest: +SKIP
    0

How a batch runs, and why:

* Every parameter file is validated and expanded before anything runs, so a typo costs nothing.
* A review's id is a hash of the notebook's content, its parameters and the data vintage; a review
  whose id is already ``ok`` in the manifest (or in the knowledge base, with its files on disk) is
  skipped, so an interrupted batch resumes where it stopped.
* Workers (``ProcessPoolExecutor(max_workers=2)`` by default, or any ``concurrent.futures.Executor``,
  or a ``dask.distributed.Client``) receive the notebook's text and return the executed notebook
  and its HTML as text: a remote worker needs the package but no shared filesystem.
* The parent process alone writes files, each atomically (temporary file + ``os.replace``), then
  records the review in the knowledge base (one transaction), then the manifest. A ``kill -9`` at
  any moment leaves complete files only; the next run redoes what was not recorded, and the
  knowledge base's upserts on stable ids mean nothing is duplicated.
* A review that fails keeps its executed notebook, with papermill's banner pointing at the failing
  cell and the traceback in place, and its HTML shows both; the others carry on.

* Whole-panel results (every unit's classification, comparison, candidates ...) are computed
  once per batch and shared: the kernels get ``$GOODPRACTICE_CACHE=OUT/.cache``
  (:mod:`goodpractice.cache`), so 43 unit reviews of one period do not classify 43 times.

Output layout: ``OUT/reviews/<review_id>.ipynb``, ``OUT/reviews/<review_id>.html``,
``OUT/reviews/index.html``, ``OUT/reviews/manifest.json``; the knowledge base at ``kb_path``;
shared results in ``OUT/.cache``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from goodpractice.errors import KnowledgeBaseError, ParameterError
from goodpractice.files import atomic_write, remove_partials
from goodpractice.reviews.findings import read_findings
from goodpractice.reviews.params import (
    ReviewSpec,
    canonical_parameters,
    data_vintage,
    load_specs,
    safe_output_dir,
)
from goodpractice.reviews.render import index_html, notebook_level, render_html

MANIFEST = "manifest.json"
INDEX = "index.html"
KERNEL_NAME = "goodpractice"

COLUMNS = [
    "review_id", "notebook", "title", "level", "unit", "period", "status", "skipped",
    "started", "duration_s", "n_practices", "n_evidence", "ipynb", "html", "error", "data_vintage",
]


# ---------------------------------------------------------------------------------------------
# Manifest and index


def read_manifest(reviews_dir: str | Path) -> dict[str, dict[str, Any]]:
    """The manifest of a reviews folder: review id -> record ({} when there is none)."""
    path = Path(reviews_dir) / MANIFEST
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {r["id"]: r for r in data.get("reviews", [])}


def _write_manifest(reviews_dir: Path, records: dict[str, dict[str, Any]]) -> None:
    # Rewritten after every review, so one record a line by the C encoder: json.dumps(indent=1)
    # falls back to the pure-Python encoder (3,000 reviews: 101 ms to encode against 41 ms).
    ordered = sorted(records.values(), key=lambda r: (r.get("notebook", ""), r["id"]))
    lines = ",\n".join(json.dumps(r, ensure_ascii=False) for r in ordered)
    atomic_write(reviews_dir / MANIFEST, f'{{"version": 1, "reviews": [\n{lines}\n]}}\n')


def write_index(out_dir: str | Path, records: dict[str, dict[str, Any]] | None = None) -> Path:
    """(Re)write ``OUT/reviews/index.html`` from the manifest (or the records given)."""
    reviews_dir = Path(out_dir) / "reviews"
    records = read_manifest(reviews_dir) if records is None else records
    page = reviews_dir / INDEX
    entries = []
    for r in records.values():
        entries.append({
            **r,
            "html": str(Path(out_dir) / r["html"]) if r.get("html") else "",
            "ipynb": str(Path(out_dir) / r["ipynb"]) if r.get("ipynb") else "",
        })
    atomic_write(page, index_html(entries, page))
    return page


# ---------------------------------------------------------------------------------------------
# Planning


def review_id(spec: ReviewSpec, vintage: str) -> str:
    """hash(notebook content + parameters + data vintage): the same review gets the same id."""
    h = hashlib.sha256()
    h.update(Path(spec.notebook_path).read_bytes())
    h.update(b"\0" + canonical_parameters(spec.parameters).encode())
    h.update(b"\0" + vintage.encode())
    return h.hexdigest()[:16]


def plan(
    param_files_or_specs: Any, out_dir: str | Path, notebooks_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """Validate and expand parameter files into review records (nothing runs).

    Raises :class:`ParameterError` for the first problem found in any file.
    """
    out = Path(out_dir)
    specs = load_specs(param_files_or_specs, Path(notebooks_dir) if notebooks_dir else None, out)
    planned: dict[str, dict[str, Any]] = {}
    for spec in specs:
        vintage = data_vintage(spec.parameters)
        rid = review_id(spec, vintage)
        folder = safe_output_dir(out, spec.output_dir, spec.source)
        rel = folder.relative_to(out.resolve())
        planned.setdefault(rid, {
            "id": rid,
            "spec": spec,
            "notebook": spec.notebook,
            "title": spec.label(),
            "level": notebook_level(spec.notebook),
            "parameters": spec.parameters,
            "data_vintage": vintage,
            "ipynb": str(rel / f"{rid}.ipynb"),
            "html": str(rel / f"{rid}.html"),
            "source": spec.source,
        })
    return list(planned.values())


# ---------------------------------------------------------------------------------------------
# The worker side (runs in another process, maybe another machine)


_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS; '-N' is appended


@functools.cache
def _batch_kernel_manager() -> type:
    """The kernel manager of batch kernels: jupyter_client's, with three changes.

    * nbclient stops a kernel gracefully: a shutdown request, then the kernel tears its
      interpreter down while jupyter_client polls every 0.1 s for the process to end: 0.22 s
      after the last cell of a trivial notebook, 0.33 s after a unit review (more to tear
      down). A review kernel has nothing left to save once its outputs are in (they arrive
      before the kernel reports idle, and its cache writes finish inside the cells), so the
      engine kills it, and its end is noticed within 5 ms.
    * Kernels talk to the worker over Unix sockets in a folder of their own (removed whatever
      happened to the kernel), not over TCP on loopback: jupyter_client picks free TCP ports,
      releases them and lets the kernel bind them, and a kernel started at the same moment by
      another worker can take one in between (jupyter_client#487, papermill#511). Three processes
      each starting 150 kernels on this machine lost that race 3 times in 450 over TCP (a
      kernel could not bind its heartbeat port: "Address already in use"; a kernel received
      another client's message), which is how a review fails or hangs until the 60 s start
      timeout; over Unix sockets, 0 in 450. A socket path longer than ``_MAX_SOCKET_PATH`` (a
      deep ``$TMPDIR``) falls back to TCP.
    * A kernel is ready once it has answered ``kernel_info`` and IOPub has carried a message
      (the client is subscribed). jupyter_client's ``wait_for_ready`` then also reads IOPub
      until it has been quiet for 0.2 s, so every kernel start waited those 0.2 s out, and a
      kernel that never falls quiet (a thread printing) was never ready. nbclient takes from
      IOPub only the messages that answer its own requests, so what is left there is never
      taken for a cell's output.
    """
    from queue import Empty

    from jupyter_client import AsyncKernelClient, AsyncKernelManager
    from traitlets import Unicode, default

    class BatchKernelClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            # jupyter_client's own wait without its last step (see above); the manager, always
            # there for batch kernels, says whether the kernel is alive.
            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    reply = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    reply = None
                if reply is not None and reply["msg_type"] == "kernel_info_reply":
                    try:
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:  # IOPub not subscribed yet: ask again
                        pass
                    else:
                        self._handle_kernel_info_reply(reply)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    class BatchKernelManager(AsyncKernelManager):
        socket_dir = Unicode("", config=True, help="Folder for the kernel's Unix sockets ('': TCP)")

        @default("client_factory")
        def _batch_client(self) -> type:
            return BatchKernelClient

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            await super()._async_wait(pollinterval=0.005)

        async def _async_pre_start_kernel(self, **kw: Any):
            path = os.path.join(self.socket_dir, "kernel")
            if self.socket_dir and len(path) <= _MAX_SOCKET_PATH:
                self.transport, self.ip = "ipc", path
            return await super()._async_pre_start_kernel(**kw)

    return BatchKernelManager


@functools.cache
def _save_once_engine() -> str:
    """A papermill engine that writes the executed notebook once, at the end, failed or not, and
    stops the kernel as soon as its last cell is done; its kernels are started and stopped by
    :func:`_batch_kernel_manager`.

    * papermill's own engine rewrites the whole notebook before and after every cell so that a
      long run can be watched: 0.2-0.3 s of a unit review. Only the final copy is read here.
      papermill writes it after a run, and after a cell's error; this engine writes it when the
      run itself fails (a cell timed out, the kernel died), so the cells run so far are kept.
    * Batch kernels keep no IPython input history (their code is in the notebook).
    """
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.iorw import write_ipynb
    from traitlets.config import Config

    manager = _batch_kernel_manager()

    class SaveOnceEngine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, **kwargs):
            kwargs.setdefault("shutdown_kernel", "immediate")
            kwargs.setdefault("kernel_manager_class", manager)
            # The review's code is in its notebook: the kernel keeps no IPython history (every
            # batch kernel wrote its cells to ~/.ipython's history.sqlite, 51 MB here in a day).
            kwargs.setdefault("extra_arguments", ["--HistoryManager.enabled=False"])
            with tempfile.TemporaryDirectory(prefix="gp-kernel-") as sockets:
                if os.name == "posix":
                    kwargs.setdefault("config", Config({manager.__name__: {"socket_dir": sockets}}))
                try:
                    return super().execute_notebook(nb, kernel_name, output_path=None, **kwargs)
                except BaseException as exc:  # papermill's manager has filled `nb` in place
                    _mark_stopped_cell(nb, exc)
                    if output_path:
                        write_ipynb(nb, output_path)
                    raise

    papermill_engines.register("goodpractice-save-once", SaveOnceEngine)
    return "goodpractice-save-once"


def _mark_stopped_cell(nb: Any, exc: BaseException) -> None:
    """Show a reader where a run stopped (a cell timed out, the kernel died): the last cell that
    started gets an error output naming the reason."""
    import nbformat

    started = [c for c in nb.cells if c.get("cell_type") == "code"
               and (c.get("metadata", {}).get("papermill") or {}).get("start_time")]
    if started:
        reason = f"{type(exc).__name__}: {exc}"
        started[-1].setdefault("outputs", []).append(nbformat.v4.new_output(
            "error", ename=type(exc).__name__, evalue=str(exc),
            traceback=[f"The review stopped in this cell. {reason}"]))


def execute_review(job: dict[str, Any]) -> dict[str, Any]:
    """Execute one review with papermill and render it; return texts, never write outside a
    private temporary folder. Runs in a worker process.

    ``job`` keys: ``id``, ``notebook_text``, ``parameters``, ``kernel_name``, ``title``,
    ``level``, ``cell_timeout``, ``cache_dir`` (optional). The result has ``status`` ('ok' or 'failed'), ``error``,
    ``started``, ``duration_s``, ``notebook`` (JSON text) and ``html``.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from goodpractice.cache import ENV as CACHE_ENV

    # The kernel inherits this process's environment ('' = no cache). Every job of a batch names
    # the same folder, so jobs sharing a worker process (thread executors) agree on it.
    os.environ[CACHE_ENV] = str(job.get("cache_dir") or "")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    status, error, nb = "ok", "", None
    with tempfile.TemporaryDirectory(prefix="gp-review-") as tmp:
        src, dst = Path(tmp) / "input.ipynb", Path(tmp) / "output.ipynb"
        src.write_text(job["notebook_text"], encoding="utf-8")
        try:
            nb = papermill.execute_notebook(
                str(src), str(dst), parameters=job["parameters"],
                kernel_name=job.get("kernel_name") or None, progress_bar=False,
                log_output=False, execution_timeout=job.get("cell_timeout"),
                engine_name=_save_once_engine(),
                # The kernel's working folder; papermill's own cwd= would chdir the whole
                # process, which breaks executors that run reviews in threads.
                resources={"metadata": {"path": tmp}},
            )
        except PapermillExecutionError as exc:
            status = "failed"
            error = f"{exc.ename}: {exc.evalue} (cell In [{exc.exec_count}])"
        except Exception as exc:  # noqa: BLE001 - kernel died, timed out, no kernelspec...
            status = "failed"
            error = f"{type(exc).__name__}: {exc}"
        # Done: `nb` is what papermill returned. Failed: the copy papermill or the engine
        # wrote, or, failed before either wrote anything, the input with the reason on top.
        if nb is None and dst.is_file():
            nb = nbformat.read(dst, as_version=4)
        elif nb is None:
            nb = nbformat.reads(job["notebook_text"], as_version=4)
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(
                f"**This review could not be executed:** `{error}`"
            ))
    nb.metadata["goodpractice"] = {
        "review_id": job["id"], "title": job.get("title", ""), "level": job.get("level", "-"),
        "parameters": job["parameters"], "status": status, "error": error, "started": started,
    }
    # The temporary paths papermill recorded mean nothing to a reader.
    if "papermill" in nb.metadata:
        nb.metadata.papermill["input_path"] = job.get("notebook", "")
        nb.metadata.papermill["output_path"] = f"{job['id']}.ipynb"
    html = render_html(nb, job.get("title", ""))
    return {
        "id": job["id"], "status": status, "error": error, "started": started,
        "duration_s": round(time.perf_counter() - t0, 3),
        # Compact JSON by the C encoder: nbformat.writes indents, which makes json use its
        # pure-Python encoder (10 ms a review), and validates what papermill just produced.
        "notebook": json.dumps(nb, ensure_ascii=False, sort_keys=True), "html": html,
    }


# ---------------------------------------------------------------------------------------------
# Knowledge base


def _kb_done(db: Any) -> set[str]:
    try:
        rows = db.execute("select id from reviews where status = 'ok'").fetchall()
    except sqlite3.OperationalError:  # no reviews table yet
        return set()
    return {r[0] for r in rows}


def _review_row(record: dict[str, Any]) -> dict[str, Any]:
    """The ``reviews`` row of the knowledge base for a manifest record."""
    return {
        "id": record["id"],
        "notebook": record["notebook"],
        "parameters": canonical_parameters(record["parameters"]),
        "status": record["status"],
        "started": record.get("started"),
        "duration_s": record.get("duration_s"),
        # A URL path under the output folder, as Datasette serves it.
        "html": "/" + Path(record["html"]).as_posix() if record.get("html") else None,
        "data_vintage": record["data_vintage"],
        "error": record.get("error") or None,
    }


def _harvest(db: Any, record: dict[str, Any], nb_json: str) -> tuple[int, int, list[dict]]:
    found = read_findings(json.loads(nb_json))
    if db is not None:
        from goodpractice import knowledge

        # Candidate rows carry exactly the KB's practice fields (goodpractice.candidates).
        knowledge.record_review(db, _review_row(record), found.practices, found.evidence)
    return len(found.practices), len(found.evidence), found.verdicts


def _record_failure(db: Any, record: dict[str, Any]) -> None:
    from goodpractice import knowledge

    knowledge.record_review(db, {**_review_row(record), "status": "failed"}, [], [])


# ---------------------------------------------------------------------------------------------
# The batch


def _as_executor(executor: Any) -> Executor:
    if isinstance(executor, Executor):
        return executor
    if hasattr(executor, "get_executor"):  # a dask.distributed.Client
        return executor.get_executor()
    raise ParameterError(
        f"executor must be a concurrent.futures.Executor or a dask.distributed.Client, "
        f"got {type(executor).__name__}"
    )


def _row(r: dict[str, Any], skipped: bool) -> dict[str, Any]:
    p = r.get("parameters") or {}
    return {
        "review_id": r["id"], "notebook": r["notebook"], "title": r.get("title", ""),
        "level": r.get("level", "-"), "unit": p.get("unit"), "period": p.get("period"),
        "status": r.get("status", "planned"), "skipped": skipped, "started": r.get("started"),
        "duration_s": r.get("duration_s"), "n_practices": r.get("n_practices", 0),
        "n_evidence": r.get("n_evidence", 0), "ipynb": r.get("ipynb"), "html": r.get("html"),
        "error": r.get("error", ""), "data_vintage": r.get("data_vintage", ""),
    }


def _restore_from_files(out: Path, rec: dict[str, Any]) -> dict[str, Any] | None:
    """A manifest record rebuilt from a review's files (the KB has it, the manifest lost it)."""
    nb_path, html_path = out / rec["ipynb"], out / rec["html"]
    if not (nb_path.is_file() and html_path.is_file()):
        return None
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("goodpractice", {})
    if meta.get("status") != "ok":
        return None
    found = read_findings(nb)
    return {
        **{k: v for k, v in rec.items() if k != "spec"}, "status": "ok",
        "started": meta.get("started"), "duration_s": None, "error": "",
        "n_practices": len(found.practices), "n_evidence": len(found.evidence),
        "verdicts": found.verdicts,
    }


def run_batch(
    param_files_or_specs: Any,
    out_dir: str | Path,
    executor: Any = None,
    max_workers: int = 2,
    kb_path: str | Path | bool | None = None,
    progress: bool = True,
    *,
    kernel_name: str | None = KERNEL_NAME,
    notebooks_dir: str | Path | None = None,
    cell_timeout: int | None = 600,
    force: bool = False,
    cache: bool = True,
) -> pd.DataFrame:
    """Run every review of the parameter files (or spec dicts) and return one row per review.

    Columns: review_id, notebook, title, level, unit, period, status ('ok' | 'failed'),
    skipped (done by an earlier run), started, duration_s, n_practices, n_evidence, ipynb, html
    (paths relative to ``out_dir``), error, data_vintage. ``kb_path=True`` means
    ``OUT/goodpractice.db``. ``force=True`` runs reviews again even when done. ``cache=False``
lets every review compute its whole-panel results itself (no ``OUT/.cache``).

    >>> df = run_batch("parameters/challenge_london_2023.yaml", "output")  # doctest: +SKIP
    >>> df.groupby("status").size()                                       # doctest: +SKIP
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    planned = plan(param_files_or_specs, out, notebooks_dir)
    reviews_dir = out / "reviews"
    reviews_dir.mkdir(parents=True, exist_ok=True)
    for folder in {(out / r["ipynb"]).parent for r in planned} | {reviews_dir}:
        remove_partials(folder)

    db = None
    if kb_path:
        from goodpractice import knowledge

        db = knowledge.open_kb(out / "goodpractice.db" if kb_path is True else kb_path)
    kb_ok = _kb_done(db) if db is not None else set()

    manifest = read_manifest(reviews_dir)
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for rec in planned:
        old = manifest.get(rec["id"])
        files_there = (out / rec["ipynb"]).is_file() and (out / rec["html"]).is_file()
        if not force and old and old.get("status") == "ok" and files_there and (
            db is None or rec["id"] in kb_ok
        ):
            rows[rec["id"]] = _row(old, skipped=True)
            continue
        if not force and rec["id"] in kb_ok:
            restored = _restore_from_files(out, rec)
            if restored is not None:
                manifest[rec["id"]] = restored
                rows[rec["id"]] = _row(restored, skipped=True)
                continue
        todo.append(rec)
    if len(rows):
        _write_manifest(reviews_dir, manifest)

    own = executor is None
    pool = ProcessPoolExecutor(max_workers=max_workers) if own else _as_executor(executor)
    futures: dict[Any, dict[str, Any]] = {}
    try:
        for rec in todo:
            spec: ReviewSpec = rec["spec"]
            job = {
                "id": rec["id"], "notebook": spec.notebook,
                "notebook_text": Path(spec.notebook_path).read_text(encoding="utf-8"),
                "parameters": rec["parameters"], "kernel_name": kernel_name,
                "title": rec["title"], "level": rec["level"], "cell_timeout": cell_timeout,
                "cache_dir": str((out / ".cache").resolve()) if cache else "",
            }
            futures[pool.submit(execute_review, job)] = rec
        bar = _progress(len(futures), progress)
        for fut in as_completed(futures):
            rec = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - the worker itself died (out of memory...)
                result = {"status": "failed", "error": f"worker: {type(exc).__name__}: {exc}",
                          "started": None, "duration_s": None, "notebook": None, "html": None}
            record = _finish(out, db, rec, result)
            manifest[rec["id"]] = record
            _write_manifest(reviews_dir, manifest)
            rows[rec["id"]] = _row(record, skipped=False)
            bar.update(1)
            if record["status"] != "ok":
                bar.write(f"review failed: {rec['title']} - {record['error']} ({record['ipynb']})")
        bar.close()
    except BaseException:
        for f in futures:  # Ctrl-C: do not start what is still queued
            f.cancel()
        raise
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    write_index(out, manifest)
    df = pd.DataFrame([rows[r["id"]] for r in planned if r["id"] in rows], columns=COLUMNS)
    df.attrs["n_failed"] = int((df["status"] != "ok").sum())
    return df


def _finish(out: Path, db: Any, rec: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Write a finished review's files, harvest it, and return its manifest record."""
    record = {k: v for k, v in rec.items() if k != "spec"}
    record.update(status=result["status"], error=result.get("error", ""),
                  started=result.get("started"), duration_s=result.get("duration_s"),
                  n_practices=0, n_evidence=0, verdicts=[])
    if result.get("notebook") is None:
        record["ipynb"] = record["html"] = ""
        if db is not None:
            _record_failure(db, record)
        return record
    atomic_write(out / record["ipynb"], result["notebook"])
    atomic_write(out / record["html"], result["html"])
    try:
        n_p, n_e, verdicts = _harvest(db, record, result["notebook"])
        record.update(n_practices=n_p, n_evidence=n_e, verdicts=verdicts)
    except (KnowledgeBaseError, sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
        record.update(status="failed", error=f"harvest into the knowledge base: {exc}")
        if db is not None:  # the run itself is still worth a row, without its refused findings
            _record_failure(db, record)
    return record



def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="reviews", unit="review", disable=not enabled or total == 0)


def rerender(out_dir: str | Path) -> int:
    """Render every executed notebook of the manifest again, and the index; returns the count."""
    out = Path(out_dir)
    manifest = read_manifest(out / "reviews")
    n = 0
    for rec in manifest.values():
        if rec.get("ipynb") and (out / rec["ipynb"]).is_file():
            atomic_write(out / rec["html"], render_html(out / rec["ipynb"], rec.get("title", "")))
            n += 1
    write_index(out, manifest)
    return n
