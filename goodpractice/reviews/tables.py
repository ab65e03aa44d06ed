"""How review notebooks show tables to readers: whole sentences, no index, numbers rounded.

pandas' default HTML cuts text at 50 characters (a reason would end in '...'), prints the row
index (meaningless numbers after a filter) and six decimals. A review calls
:func:`readable_tables` once, in its imports cell; the executed notebook keeps the plain text
representation too, so nothing is lost for analysts.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def format_number(value: Any) -> str:
    """Thousands separated above 1,000, two decimals above 1, three significant figures below."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table_html(df: pd.DataFrame) -> str:
    """A DataFrame as an HTML table for readers; text is escaped, never raw HTML."""
    show_index = not isinstance(df.index, pd.RangeIndex) and df.index.name is not None
    with pd.option_context("display.max_colwidth", None):
        body = df.to_html(
            index=show_index, escape=True, na_rep="–", float_format=format_number, border=0,
            classes="gp-table",
        )
    # Sentences read left to right. The lab template right-aligns every cell with a selector
    # (':not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td') more specific than '.gp-table td',
    # so the rule must be marked important to win.
    return ("<style>table.gp-table td, table.gp-table th {text-align: left !important;}</style>"
            + body)


def readable_tables() -> None:
    """Make every DataFrame the notebook displays render with :func:`table_html`."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:  # not in a kernel: nothing to configure
        return
    html = shell.display_formatter.formatters["text/html"]
    html.for_type(pd.DataFrame, table_html)
