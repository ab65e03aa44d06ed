"""Parameterised review notebooks: validate parameter files, run batches, render, harvest.

Names are loaded on first use (PEP 562): a review kernel importing ``open_dataset`` does not
import the runner (and with it ``concurrent.futures.process``, 50 ms) or the renderer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "FINDINGS_MIME": "findings", "emit_findings": "findings", "read_findings": "findings",
    "ReviewSpec": "params", "load_parameter_file": "params", "open_dataset": "params",
    "render_html": "render",
    "plan": "runner", "run_batch": "runner",
}

__all__ = [
    "FINDINGS_MIME",
    "ReviewSpec",
    "emit_findings",
    "load_parameter_file",
    "open_dataset",
    "plan",
    "read_findings",
    "render_html",
    "run_batch",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"goodpractice.reviews.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'goodpractice.reviews' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from goodpractice.reviews.findings import FINDINGS_MIME, emit_findings, read_findings
    from goodpractice.reviews.params import ReviewSpec, load_parameter_file, open_dataset
    from goodpractice.reviews.render import render_html
    from goodpractice.reviews.runner import plan, run_batch
