"""Findings as structured notebook outputs: written inside a review, read back by the runner.

A review notebook calls :func:`emit_findings` once (or more); each call displays one output whose
MIME bundle carries the findings as JSON under :data:`FINDINGS_MIME`::

    application/vnd.goodpractice.findings+json
    {
      "version": 1,
      "practices": [{"id": ..., "title": ..., "summary": ..., "element": ..., "unit": ..., ...}],
      "evidence":  [{"practice_id": ..., "indicator": ..., "period": ..., "estimate": ..., ...}],
      "verdicts":  [{"unit": ..., "indicator": ..., "verdict": ..., "reason": ...}]
    }

Rows are the DataFrames' records (``NaN`` becomes ``null``, timestamps ISO 8601). The bundle also
has a one-line ``text/plain`` so JupyterLab shows something readable; the HTML renderer drops the
whole output (reviewers read the narrative and charts, not JSON), and the runner harvests it with
:func:`read_findings` into the knowledge base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

FINDINGS_MIME = "application/vnd.goodpractice.findings+json"
FINDINGS_VERSION = 1


def _records(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    # to_json turns numpy scalars, NaN/NA and timestamps into plain JSON in one step.
    if df is None or len(df) == 0:
        return []
    return json.loads(df.to_json(orient="records", date_format="iso"))


def findings_bundle(
    practices: pd.DataFrame | None,
    evidence: pd.DataFrame | None,
    verdicts: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The MIME bundle :func:`emit_findings` displays (a dict of MIME type -> data).

    >>> b = findings_bundle(pd.DataFrame({"id": ["p1"]}), pd.DataFrame())
    >>> b[FINDINGS_MIME]["practices"]
    [{'id': 'p1'}]
    """
    payload = {
        "version": FINDINGS_VERSION,
        "practices": _records(practices),
        "evidence": _records(evidence),
        "verdicts": _records(verdicts),
    }
    text = (
        f"goodpractice findings: {len(payload['practices'])} candidate practice(s), "
        f"{len(payload['evidence'])} evidence row(s), {len(payload['verdicts'])} verdict(s)"
    )
    return {FINDINGS_MIME: payload, "text/plain": text}


def emit_findings(
    practices_df: pd.DataFrame | None,
    evidence_df: pd.DataFrame | None,
    verdicts_df: pd.DataFrame | None = None,
) -> None:
    """Display the review's findings as a structured output the runner harvests.

    ``practices_df`` and ``evidence_df`` are the two tables of
    :func:`goodpractice.candidates.candidate_findings`; ``verdicts_df`` (optional) has one row per
    unit x indicator judged by the review (columns ``unit``, ``indicator``, ``verdict``, ``reason``)
    and feeds the index page. Returns None, so that a call ending a cell adds no ``Out[]``
    (the bundle itself is :func:`findings_bundle`).

    >>> emit_findings(pd.DataFrame(), pd.DataFrame())  # doctest: +SKIP
    """
    bundle = findings_bundle(practices_df, evidence_df, verdicts_df)
    from IPython.display import display

    display(bundle, raw=True)


@dataclass
class Findings:
    """The findings harvested from one executed notebook."""

    practices: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(practices, evidence, verdicts) as DataFrames."""
        return (
            pd.DataFrame(self.practices),
            pd.DataFrame(self.evidence),
            pd.DataFrame(self.verdicts),
        )


def _outputs(nb: Any):
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") in ("display_data", "execute_result"):
                yield out


def is_findings_output(output: dict[str, Any]) -> bool:
    """True for an output cell that carries findings (the renderer hides those)."""
    return FINDINGS_MIME in output.get("data", {})


def read_findings(nb: Any) -> Findings:
    """Collect every findings output of an executed notebook (a dict or NotebookNode).

    Several calls of :func:`emit_findings` in one notebook are concatenated in cell order.

    >>> read_findings({"cells": []}).practices
    []
    """
    found = Findings()
    for out in _outputs(nb):
        if not is_findings_output(out):
            continue
        payload = out["data"][FINDINGS_MIME]
        if isinstance(payload, str):  # some writers store JSON MIME data as text
            payload = json.loads(payload)
        found.practices.extend(payload.get("practices", []))
        found.evidence.extend(payload.get("evidence", []))
        found.verdicts.extend(payload.get("verdicts", []))
    return found
