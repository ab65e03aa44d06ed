"""Period labels: financial years (2013-14), quarters (2024-Q1) and months (2024-01).

Labels are strings that sort in time order. A panel uses one frequency throughout, because
"2011-12" is both December 2011 and the financial year 2011-12: the whole column decides.
"""

from __future__ import annotations

import re

import pandas as pd

FREQUENCIES = ("annual", "quarterly", "monthly")

_FY = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

# How many periods make a year, per frequency: used for year-on-year comparisons and windows.
PER_YEAR = {"annual": 1, "quarterly": 4, "monthly": 12}


def _is_financial_year(label: str) -> bool:
    m = _FY.match(label)
    return bool(m) and (int(m.group(1)) + 1) % 100 == int(m.group(2))


def period_problem(label: str, frequency: str | None) -> str | None:
    """Why `label` is not a valid period of `frequency` (None when it is)."""
    expected = {
        "annual": "a financial year like '2017-18'",
        "quarterly": "a quarter like '2024-Q1'",
        "monthly": "a month like '2024-01'",
        None: "a financial year like '2017-18', a quarter like '2024-Q1' or a month like '2024-01'",
    }[frequency]
    ok = {
        "annual": _is_financial_year,
        "quarterly": lambda s: bool(_QUARTER.match(s)),
        "monthly": lambda s: bool(_MONTH.match(s)),
        None: lambda s: _is_financial_year(s) or bool(_QUARTER.match(s) or _MONTH.match(s)),
    }[frequency](label)
    if ok:
        return None
    hint = ""
    if re.match(r"^\d{4}/\d{2}$", label):
        hint = f" (write '{label.replace('/', '-')}')"
    return f"expected {expected}{hint}"


def infer_frequency(labels: pd.Series) -> str | None:
    """The one frequency all labels share, or None when they share none."""
    values = pd.Series(pd.unique(labels.astype(str)))
    if values.empty:
        return None
    if values.map(_is_financial_year).all():
        return "annual"
    if values.str.fullmatch(_QUARTER.pattern).all():
        return "quarterly"
    if values.str.fullmatch(_MONTH.pattern).all():
        return "monthly"
    return None


def to_index(label: str, frequency: str) -> int:
    """A running integer for a period (consecutive periods differ by 1)."""
    year = int(label[:4])
    if frequency == "annual":
        return year
    if frequency == "quarterly":
        return year * 4 + int(label[-1]) - 1
    return year * 12 + int(label[5:7]) - 1


def from_index(index: int, frequency: str) -> str:
    """The period label of a running integer from :func:`to_index`."""
    if frequency == "annual":
        return f"{index}-{(index + 1) % 100:02d}"
    if frequency == "quarterly":
        return f"{index // 4}-Q{index % 4 + 1}"
    return f"{index // 12}-{index % 12 + 1:02d}"


def shift(label: str, frequency: str, steps: int) -> str:
    """The period `steps` after `label` (negative: before). `shift('2024-01', 'monthly', -12)` is '2023-01'."""
    return from_index(to_index(label, frequency) + steps, frequency)
