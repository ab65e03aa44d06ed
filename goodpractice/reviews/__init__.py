"""Parameterised review notebooks: validate parameter files, run batches, render, harvest."""

from goodpractice.reviews.findings import FINDINGS_MIME, emit_findings, read_findings
from goodpractice.reviews.params import ReviewSpec, load_parameter_file, open_dataset
from goodpractice.reviews.render import render_html
from goodpractice.reviews.runner import plan, run_batch

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
