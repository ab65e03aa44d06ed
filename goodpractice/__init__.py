"""goodpractice: which police units do well, why, and what the others can learn from them."""

from goodpractice.candidates import candidate_findings
from goodpractice.challenge import challenge_rounds, exceptions, select_for_challenge
from goodpractice.classify import classify, classify_overall
from goodpractice.compare import compare
from goodpractice.errors import GoodPracticeError, KnowledgeBaseError, PanelFormatError, ParameterError
from goodpractice.expected import expected
from goodpractice.frontier import frontier
from goodpractice.funnel import funnel, funnel_limits
from goodpractice.investment import link_investment
from goodpractice.panel import Panel, from_frames, load_example, read_panel
from goodpractice.peers import peer_sensitivity, peers
from goodpractice.spc import xmr
from goodpractice.targets import targets

__version__ = "0.1.0"

__all__ = [
    "GoodPracticeError",
    "KnowledgeBaseError",
    "Panel",
    "PanelFormatError",
    "ParameterError",
    "candidate_findings",
    "challenge_rounds",
    "classify",
    "classify_overall",
    "compare",
    "exceptions",
    "expected",
    "from_frames",
    "frontier",
    "funnel",
    "funnel_limits",
    "link_investment",
    "load_example",
    "peer_sensitivity",
    "peers",
    "read_panel",
    "select_for_challenge",
    "targets",
    "xmr",
]
