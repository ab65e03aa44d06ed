"""Shared test settings: plots never open windows, and kernels run from this environment."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
