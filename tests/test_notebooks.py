"""Every shipped review notebook runs on a real kernel with a real parameter file; its HTML has
the expected sections, charts and no code; its findings reach the knowledge base.

One review per notebook (the first of its parameter file), all in one batch of two workers.
Whole batches (43 forces, 12 months) belong to the benchmark and the demo.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import papermill
import pytest

from goodpractice import knowledge
from goodpractice.reviews.findings import FINDINGS_MIME, read_findings
from goodpractice.reviews.params import load_parameter_file
from goodpractice.reviews.runner import run_batch

REPO = Path(__file__).resolve().parent.parent
PARAMS = REPO / "parameters"

# notebook -> (parameter file, section headings its page must show, findings expected)
CASES = {
    "unit_review": ("unit_review_dyfed_powys_2017-18.yaml", [
        "Unit review - level 1 proforma", "Most similar units", "Resource profile against peers",
        "The four comparators", "Position in the funnel", "Over time", "Expected against actual",
        "Targets", "Verdict", "Candidate findings"], True),
    "cluster_review": ("cluster_review_wales_2017-18.yaml", [
        "Cluster review - level 2", "How many units in each category",
        "Each unit, with its reasons", "Candidate findings from the cluster"], True),
    "challenge_round": ("challenge_london_2023.yaml", [
        "Monthly challenge round - level 3", "Rotation record", "Selected for challenge",
        "Run charts of the selected units"], False),
    "exceptions": ("exceptions_london_2023-12.yaml", [
        "Exception report - levels 4 and 5", "Exceptions by severity", "Exceptions per unit",
        "Recommendations outstanding"], False),
    "investment_returns": ("investment_returns_forces.yaml", [
        "Return on investment per Policing Model element", "The model and its estimates",
        "Elasticities", "Caveats"], False),
}


def test_every_notebook_has_a_case_and_a_fully_parsed_parameters_cell():
    shipped = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert shipped == sorted(CASES)
    for name in shipped:
        path = REPO / "notebooks" / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assigned = re.findall(r"^(\w+)\s*:", cell.source, flags=re.MULTILINE)
        declared = papermill.inspect_notebook(str(path))
        # papermill silently drops a line it cannot parse (e.g. '=' inside the comment)
        assert list(declared) == assigned, name
        for p in declared.values():
            assert p["inferred_type_name"] not in ("None", ""), (name, p["name"])
            assert p["help"], f"{name}: parameter {p['name']} has no comment"
        assert nb.metadata.kernelspec.name == "goodpractice"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("reviews")
    specs = [load_parameter_file(PARAMS / f, out_dir=out)[0] for f, _, _ in CASES.values()]
    df = run_batch(specs, out, kb_path=True, progress=False)
    return out, df.set_index("notebook")


@pytest.mark.parametrize("notebook", sorted(CASES))
def test_the_review_runs_and_reads_well(batch, notebook):
    out, df = batch
    row = df.loc[notebook]
    assert row["status"] == "ok", row["error"]
    page = (out / row["html"]).read_text(encoding="utf-8")
    for heading in CASES[notebook][1]:
        assert re.search(rf"<h[12][^>]*>{re.escape(heading)}", page), heading
    # No code: none of the notebook's code lines appear in the page.
    nb = nbformat.read(out / row["ipynb"], as_version=4)
    nbformat.validate(nb)  # the kept notebook is valid nbformat 4, for JupyterLab
    for cell in nb.cells:
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                if line.startswith(("from ", "import ")):
                    assert line not in page
    assert 'class="jp-CodeMirrorEditor' not in page and 'class="highlight' not in page
    # The notebook's own code is current pandas: no deprecation notes, even in the .ipynb.
    stderr = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("name") == "stderr")
    assert not re.search(r"(Deprecation|Future|Pandas\d)Warning", stderr), stderr
    assert FINDINGS_MIME not in page
    assert '<figure class="gp-chart">' in page, "charts are in the page"
    assert page.count('<script type="module">') == 1, "the Vega libraries, once"
    assert "<script src=" not in page and "https://cdn" not in page, "nothing from the network"
    assert "&lt;Chart: " not in page, "every chart is drawn, not shown as its repr"
    assert "Warning:" not in page, "library warnings stay in the .ipynb, not the reader's page"
    assert "...</td>" not in page, "reasons are shown whole"
    assert "No description has been provided" not in page, "every chart has its own alt text"
    assert "<noscript><p>Chart: " in page
    assert "Traceback" not in page


@pytest.mark.parametrize("notebook", sorted(CASES))
def test_findings_reach_the_knowledge_base(batch, notebook):
    out, df = batch
    row = df.loc[notebook]
    found = read_findings(nbformat.read(out / row["ipynb"], as_version=4))
    assert found.verdicts, "every review states verdicts for the index"
    db = knowledge.open_kb(out / "goodpractice.db")
    try:
        review = db["reviews"].get(row["review_id"])
        assert review["status"] == "ok" and review["html"] == f"/{row['html']}"
        # A practice's id is stable (unit, element, indicator): a later review of the same unit
        # (here the cluster review of Wales) updates it and adds its own evidence rows.
        ids = [p["id"] for p in found.practices]
        assert len(ids) == row["n_practices"]
        assert {p["id"] for p in db["practices"].rows_where(
            f"id in ({', '.join('?' * len(ids))})", ids)} == set(ids)
        evidence = list(db["evidence"].rows_where("review_id = ?", [row["review_id"]]))
        assert len(evidence) == len(found.evidence) == row["n_evidence"]
        if CASES[notebook][2]:
            assert ids, "this review is known to produce candidate practices"
            assert len(evidence) >= len(ids)
    finally:
        db.conn.close()


def test_the_index_lists_every_review_by_level(batch):
    out, df = batch
    index = (out / "reviews" / "index.html").read_text(encoding="utf-8")
    for level in ("Level 1", "Level 2", "Level 3", "Levels 4-5", "Analyses"):
        assert level in index
    for row in df.itertuples():
        assert f'href="{Path(row.html).name}"' in index
