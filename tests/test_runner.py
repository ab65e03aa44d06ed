"""The batch runner on real kernels: failures kept and visible, resumable after kill -9,
idempotent harvest into a real knowledge base, any Executor (threads, a Dask cluster)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import yaml
from click.testing import CliRunner

from goodpractice import knowledge
from goodpractice.files import atomic_write
from goodpractice.reviews.findings import FINDINGS_MIME, read_findings
from goodpractice.reviews.runner import read_manifest, run_batch
from goodpractice.reviews_cli import reviews

HERE = Path(__file__).parent
TINY = str(HERE / "notebooks" / "tiny.ipynb")
REPO = HERE.parent


def counts(db_path: Path) -> dict[str, int]:
    db = knowledge.open_kb(db_path)
    try:
        return {t: db[t].count for t in ("reviews", "practices", "evidence")}
    finally:
        db.conn.close()


def test_one_failure_leaves_the_others_done_and_shows_where_it_failed(tmp_path):
    specs = [
        {"notebook": TINY, "title": "Tiny <{label}> & co", "parameters": {"x": 2},
         "batch": {"label": ["alpha", "beta"]}},
        {"notebook": TINY, "title": "Broken {label}", "parameters": {"label": "gamma", "fail": True}},
    ]
    df = run_batch(specs, tmp_path, kb_path=True, progress=False)

    assert sorted(df["status"]) == ["failed", "ok", "ok"]
    assert df.attrs["n_failed"] == 1
    ok = df[df.status == "ok"]
    assert list(ok["n_practices"]) == [1, 1] and list(ok["n_evidence"]) == [1, 1]
    bad = df[df.status == "failed"].iloc[0]
    assert "RuntimeError: deliberate failure for gamma" in bad["error"]

    # The failed notebook is kept, with papermill's banner and the traceback at the failing cell.
    nb = nbformat.read(tmp_path / bad["ipynb"], as_version=4)
    assert "An Exception was encountered" in nb.cells[0].source
    failing = [c for c in nb.cells if c.cell_type == "code"
               and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failing) == 1 and "raise RuntimeError" in failing[0].source
    assert nb.metadata["goodpractice"]["status"] == "failed"
    # ... and its HTML shows both, without code.
    page = (tmp_path / bad["html"]).read_text()
    assert "An Exception was encountered" in page and "deliberate failure for gamma" in page
    assert "raise RuntimeError" not in page

    # A good page: narrative and printed results, no code, no findings JSON.
    good = ok.iloc[0]
    page = (tmp_path / good["html"]).read_text()
    assert "What this review found" in page
    assert "value for alpha: 1.0" in page or "value for beta: 1.0" in page
    assert "emit_findings" not in page and "import pandas" not in page
    assert FINDINGS_MIME not in page and "goodpractice findings" not in page
    executed = nbformat.read(tmp_path / good["ipynb"], as_version=4)
    assert read_findings(executed).practices[0]["unit"] in ("alpha", "beta")

    # Index: every review, escaped titles, links that resolve.
    index = (tmp_path / "reviews" / "index.html").read_text()
    assert "Tiny &lt;alpha&gt; &amp; co" in index and "<alpha>" not in index
    for row in df.itertuples():
        assert f'href="{Path(row.html).name}"' in index
    assert "1 failed" in index


    # Harvest: one row per review, practices linked to their page.
    db = knowledge.open_kb(tmp_path / "goodpractice.db")
    reviews_rows = {r["id"]: r for r in db["reviews"].rows}
    assert {r["status"] for r in reviews_rows.values()} == {"ok", "failed"}
    assert len(reviews_rows) == 3
    for p in db["practices"].rows:
        assert p["review_html"] == f"/reviews/{p['review_id']}.html"
        assert reviews_rows[p["review_id"]]["status"] == "ok"
    db.conn.close()
    before = counts(tmp_path / "goodpractice.db")
    assert before == {"reviews": 3, "practices": 2, "evidence": 2}

    # Re-running: the two done reviews are skipped, the failed one tried again; no duplicates.
    again = run_batch(specs, tmp_path, kb_path=True, progress=False)
    assert sorted(again.loc[again.skipped, "review_id"]) == sorted(ok["review_id"])
    assert counts(tmp_path / "goodpractice.db") == before
    assert len(read_manifest(tmp_path / "reviews")) == 3

def test_a_cell_that_times_out_keeps_the_cells_run_before_it(tmp_path):
    # The notebook is written once, at the end (runner._save_once_engine): a timeout must still
    # leave papermill's executed copy, not the input notebook with only the reason on top.
    spec = {"notebook": TINY, "title": "Slow", "parameters": {"label": "slow", "sleep_s": 30}}
    df = run_batch([spec], tmp_path, progress=False, cell_timeout=2)
    row = df.iloc[0]
    assert row["status"] == "failed" and "timed out" in row["error"]
    nb = nbformat.read(tmp_path / row["ipynb"], as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'label = "slow"' in injected[0].source
    # The kernel is stopped at once; the cell where it stopped says so, in the page too.
    slept = next(c for c in nb.cells if "time.sleep(sleep_s)" in c.source)
    assert [o.get("ename") for o in slept.outputs] == ["CellTimeoutError"]
    assert "timed out" in slept.outputs[0]["evalue"]
    page = (tmp_path / row["html"]).read_text(encoding="utf-8")
    assert "The review stopped in this cell. CellTimeoutError" in page


def test_a_kernel_that_dies_fails_its_review_and_shows_where(tmp_path):
    nb = nbformat.read(TINY, as_version=4)
    crash = next(c for c in nb.cells if "if fail:" in c.source)
    crash.source = "if fail:\n    import os\n    os._exit(1)  # the kernel process dies"
    dying = tmp_path / "dying.ipynb"
    nbformat.write(nb, dying)
    df = run_batch([{"notebook": str(dying), "title": "Dies", "parameters": {"fail": True}},
                    {"notebook": str(dying), "title": "Lives", "parameters": {"label": "ok"}}],
                   tmp_path / "out", progress=False)
    status = df.set_index("title")["status"]
    assert status["Dies"] == "failed" and status["Lives"] == "ok"
    row = df.set_index("title").loc["Dies"]
    assert "DeadKernelError" in row["error"]
    kept = nbformat.read(tmp_path / "out" / row["ipynb"], as_version=4)
    died = next(c for c in kept.cells if "os._exit(1)" in c.source)
    assert [o.get("ename") for o in died.outputs] == ["DeadKernelError"]
    assert any(c.get("execution_count") for c in kept.cells if c.cell_type == "code"), \
        "the cells before it ran and are kept"


def test_batch_kernels_keep_no_ipython_history(tmp_path, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # the kernels inherit it
    df = run_batch([{"notebook": TINY, "batch": {"label": ["h1", "h2"]}}], tmp_path / "out",
                   progress=False)
    assert list(df.status) == ["ok", "ok"]
    history = tmp_path / "ipython" / "profile_default" / "history.sqlite"
    if history.exists():  # IPython may create the file; it must hold no cell of the reviews
        import sqlite3

        with sqlite3.connect(history) as db:
            tables = {r[0] for r in db.execute("select name from sqlite_master")}
            assert "history" not in tables or \
                db.execute("select count(*) from history").fetchone()[0] == 0


def _transport_notebook(tmp_path: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "goodpractice", "display_name": "goodpractice",
                              "language": "python"}
    parameters = nbformat.v4.new_code_cell("n: int = 0  # which review of the batch")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(
        "from ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\n"
        "print(app.transport, app.ip)")]
    path = tmp_path / "transport.ipynb"
    nbformat.write(nb, path)
    return str(path)


def _kernel_transports(df, out: Path) -> list[tuple[str, str]]:
    found = []
    for rel in df["ipynb"]:
        nb = nbformat.read(out / rel, as_version=4)
        transport, ip = nb.cells[-1].outputs[0]["text"].split()
        found.append((transport, ip))
    return found


def test_batch_kernels_talk_over_private_unix_sockets(tmp_path):
    # Kernels started at once by several workers must not race for TCP ports: jupyter_client
    # picks free ports, releases them and lets the kernel bind them, and another process can
    # take one in between (jupyter_client#487, papermill#511): the kernel dies or never answers.
    # Each batch kernel gets a folder of its own for its sockets instead, removed afterwards.
    nb = _transport_notebook(tmp_path)
    df = run_batch([{"notebook": nb, "batch": {"n": [1, 2, 3, 4]}}], tmp_path / "out",
                   progress=False)
    assert list(df.status) == ["ok"] * 4
    found = _kernel_transports(df, tmp_path / "out")
    assert {t for t, _ in found} == {"ipc"}
    folders = {Path(ip).parent for _, ip in found}
    assert len(folders) == 4, "one socket folder per kernel"
    assert not any(f.exists() for f in folders), "socket folders are removed after each review"


def test_batch_kernels_fall_back_to_tcp_when_the_socket_path_is_too_long(tmp_path, monkeypatch):
    from goodpractice.reviews import runner

    monkeypatch.setattr(runner, "_MAX_SOCKET_PATH", 5)  # no socket path is this short
    nb = _transport_notebook(tmp_path)
    df = run_batch([{"notebook": nb, "parameters": {}}], tmp_path / "out", progress=False,
                   executor=ThreadPoolExecutor(1))
    assert list(df.status) == ["ok"]
    assert _kernel_transports(df, tmp_path / "out") == [("tcp", "127.0.0.1")]


def test_a_batch_kernel_is_ready_while_its_iopub_never_falls_quiet():
    # jupyter_client's wait_for_ready ends by reading IOPub until 0.2 s pass without a message:
    # every kernel start waited 0.2 s for nothing, and a kernel whose IOPub never falls quiet
    # (here a thread printing every 20 ms from start-up) was never ready at all.
    from goodpractice.reviews import runner

    noise = ("import threading, time\n"
             "def _noise():\n"
             "    while True:\n"
             "        print('.', flush=True)\n"
             "        time.sleep(0.02)\n"
             "threading.Thread(target=_noise, daemon=True).start()")

    async def start_and_wait() -> int:
        km = runner._batch_kernel_manager()(kernel_name="goodpractice")
        await km.start_kernel(extra_arguments=[f"--IPKernelApp.exec_lines={noise}"])
        kc = km.client()
        kc.start_channels()
        try:
            await asyncio.wait_for(kc.wait_for_ready(timeout=60), 30)
            streams, until = 0, time.monotonic() + 1  # and the kernel is noisy indeed
            while time.monotonic() < until:
                msg = await kc.get_iopub_msg(timeout=5)
                streams += msg["msg_type"] == "stream"
            return streams
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    assert asyncio.run(start_and_wait()) >= 10


def _manifest_ok(out: Path) -> int:
    try:
        return sum(r["status"] == "ok" for r in read_manifest(out / "reviews").values())
    except (json.JSONDecodeError, FileNotFoundError):
        pytest.fail("the manifest was half-written")


def test_kill_9_mid_batch_then_resume_loses_and_duplicates_nothing(tmp_path):
    labels = [f"u{i}" for i in range(6)]
    param_file = tmp_path / "slow.yaml"
    param_file.write_text(yaml.safe_dump({
        "notebook": TINY, "parameters": {"sleep_s": 1.5, "x": 4}, "batch": {"label": labels},
    }))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "goodpractice.reviews_cli", "run", str(param_file),
           "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _manifest_ok(out) < 2:
        if proc.poll() is not None:
            pytest.fail(f"the runner ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("no review finished in 120 s")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its worker processes
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()

    done_before = read_manifest(out / "reviews")
    assert 2 <= len(done_before) < len(labels), "the kill came too late to test anything"
    for rec in done_before.values():  # what the manifest lists is complete on disk
        nbformat.read(out / rec["ipynb"], as_version=4)
        assert (out / rec["html"]).read_text().rstrip().endswith("</html>")
    for nb_file in (out / "reviews").glob("*.ipynb"):  # no half-written notebook either
        json.loads(nb_file.read_text())

    df = run_batch([param_file], out, kb_path=True, progress=False)
    assert (df.status == "ok").all()
    assert set(df.loc[df.skipped, "review_id"]) == set(done_before)
    assert len(df) == len(labels)
    assert not list((out / "reviews").glob("*.partial-*"))
    assert counts(out / "goodpractice.db") == {"reviews": 6, "practices": 6, "evidence": 6}
    # The KB now knows every review: a third run does nothing and adds nothing.
    third = run_batch([param_file], out, kb_path=True, progress=False)
    assert third.skipped.all()
    assert counts(out / "goodpractice.db") == {"reviews": 6, "practices": 6, "evidence": 6}


def test_any_executor_can_run_the_batch(tmp_path):
    specs = {"notebook": TINY, "batch": {"label": ["t1", "t2"]}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        df = run_batch(specs, tmp_path, executor=pool, progress=False)
    assert (df.status == "ok").all() and len(df) == 2


def test_a_dask_cluster_runs_the_batch(tmp_path):
    distributed = pytest.importorskip("distributed")
    specs = {"notebook": TINY, "batch": {"label": ["d1", "d2"]}}
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        df = run_batch(specs, tmp_path, executor=client, kb_path=True, progress=False)
    assert (df.status == "ok").all() and len(df) == 2
    assert counts(tmp_path / "goodpractice.db")["practices"] == 2


def test_the_cli_reports_failures_in_its_exit_status(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"notebook": TINY, "parameters": {"label": "cli"}}))
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"notebook": TINY, "parameters": {"fail": True}}))
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(reviews, ["run", str(good), str(broken), "--out", str(out),
                                     "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "2 review(s): 2 ran, 0 already done, 1 failed" in result.output

    listed = runner.invoke(reviews, ["list", "--out", str(out)])
    assert listed.exit_code == 0
    assert "failed" in listed.output and "ok" in listed.output

    rendered = runner.invoke(reviews, ["render", "--out", str(out)])
    assert rendered.exit_code == 0 and "rendered 2 review(s)" in rendered.output

    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"notebook": TINY, "parameters": {"lable": "x"}}))
    bad = runner.invoke(reviews, ["run", str(typo), "--out", str(out), "--no-progress"])
    assert bad.exit_code == 2
    assert "did you mean 'label'" in bad.output


def test_atomic_write_replaces_whole_files_only(tmp_path):
    target = tmp_path / "sub" / "page.html"
    atomic_write(target, "first")
    atomic_write(target, "second version")
    assert target.read_text() == "second version"
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]
