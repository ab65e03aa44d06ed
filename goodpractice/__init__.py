"""goodpractice: which police units do well, why, and what the others can learn from them."""

from goodpractice.errors import (
    GoodPracticeError,
    KnowledgeBaseError,
    PanelFormatError,
    ParameterError,
)
from goodpractice.panel import Panel, from_frames, load_example, read_panel

__version__ = "0.1.0"

__all__ = [
    "GoodPracticeError",
    "KnowledgeBaseError",
    "Panel",
    "PanelFormatError",
    "ParameterError",
    "from_frames",
    "load_example",
    "read_panel",
]
