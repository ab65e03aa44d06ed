"""Words for readers of a review: names instead of ids, labels instead of codes, units on axes.

The library's tables are keyed by stable ids (``kensington_and_chelsea``, ``crime_total``,
``'__overall__'``) so that they join and re-run cleanly; a committee member reads names and
labels. These helpers turn one into the other at the last step, in the notebook that shows
the table or chart, and state the caveats a reader needs to read a rate fairly.

    >>> import goodpractice as gp
    >>> panel = gp.load_example("london")                                  # doctest: +SKIP
    >>> axis_label(panel, "crime_total")                                   # doctest: +SKIP
    'per 1,000 residents (month)'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from goodpractice.classify import OVERALL
from goodpractice.panel import Panel

OVERALL_WORDS = "Overall (all indicators)"


def unit_names(panel: Panel) -> dict[str, str]:
    """unit id -> the unit's name as the panel gives it."""
    return panel.units.set_index("unit")["name"].astype(str).to_dict()


def indicator_labels(panel: Panel) -> dict[str, str]:
    """indicator code -> its label, with the overall row in words."""
    labels = panel.indicators.set_index("indicator")["label"].astype(str).to_dict()
    labels[OVERALL] = OVERALL_WORDS
    return labels


def readable(df: pd.DataFrame, panel: Panel, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A copy of `df` for readers: ids in unit / peer / element / indicator columns become names
    and labels ('__overall__' becomes 'Overall (all indicators)'), and snake_case column
    headers become words ('peer_best_quartile' -> 'Peer best quartile').

    `columns` picks and orders the columns first (their ids, as in `df`). Values the panel does
    not know are left as they are. The index, if named, is translated the same way.

        >>> readable(classify(panel, period="2023-12"), panel, ["unit", "indicator", "category"])
        ... # doctest: +SKIP
    """
    out = df[list(columns)].copy() if columns is not None else df.copy()
    names = unit_names(panel)
    maps = {"unit": names, "peer": names,
            "indicator": indicator_labels(panel),
            "element": panel.elements.set_index("element")["label"].astype(str).to_dict()}
    for col, mapping in maps.items():
        if col in out.columns:
            out[col] = out[col].map(lambda v, m=mapping: m.get(v, v) if isinstance(v, str) else v)
    if out.index.name in maps:
        mapping = maps[out.index.name]
        out.index = out.index.map(lambda v: mapping.get(v, v))
        out.index.name = _words(out.index.name)
    out.columns = [_words(c) for c in out.columns]
    return out


# Headers whose plain-words form would mislead or read badly ('Ci low', 'P', 'N adverse').
HEADERS = {"ci_low": "95% CI low", "ci_high": "95% CI high", "p": "p", "z": "z",
           "n_adverse": "Adverse comparators", "lower_95": "95% lower limit",
           "upper_95": "95% upper limit", "lower_998": "99.8% lower limit",
           "upper_998": "99.8% upper limit"}


def _words(name: Any) -> Any:
    if not isinstance(name, str):
        return name
    if name in HEADERS:
        return HEADERS[name]
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def axis_label(panel: Panel, indicator: str) -> str:
    """The unit of an indicator's values, for a chart axis: 'per 1,000 residents (month)',
    '%', or 'per 1,000' when the label does not say.

        >>> axis_label(gp.load_example("forces"), "arrests")               # doctest: +SKIP
        'per 1,000 population'
    """
    spec = panel.indicator(indicator)
    label, kind, mult = str(spec["label"]), str(spec["kind"]), float(spec["multiplier"])
    if kind == "proportion" and mult == 100:
        return "%"
    match = re.search(r"\bper\s+[\d,.]+\s+\w+(?:\s+\([^)]*\))?", label)
    if match:
        return match.group(0)
    return f"per {mult:,.0f}" if mult != 1 else "value"


def denominator_label(panel: Panel, indicator: str) -> str:
    """What a rate is divided by, for the x axis of a funnel: 'residents' or 'population'."""
    label = str(panel.indicator(indicator)["label"]).lower()
    for word in ("residents", "population"):
        if word in label:
            return f"{word} (the rate's denominator)"
    return "denominator"


def resident_rate_caveat(panel: Panel, adverse_everywhere: Iterable[str] = ()) -> str:
    """The caveat a reader needs before comparing per-resident rates, as Markdown ('' if the
    panel's indicators are not per resident / population rates).

    Crime against visitors, commuters and shoppers is recorded where it happens, but only
    residents are in the denominator, so a centre with a large daytime population shows high
    rates on every indicator. `adverse_everywhere` names the units the review found adverse on
    every indicator - the pattern such a denominator produces - so the reader knows whom to
    read with care.

        >>> resident_rate_caveat(panel, ["westminster"])                   # doctest: +SKIP
    """
    labels = panel.indicators["label"].astype(str).str.lower()
    if not labels.str.contains(r"per [\d,]+ (?:residents|population)").any():
        return ""
    names = unit_names(panel)
    who = [names.get(u, u) for u in adverse_everywhere]
    text = ("**Read rates with care.** Rates here are per resident: crime against visitors, "
            "commuters and shoppers counts where it happens, but they are not in the population "
            "that divides it. A unit with a large daytime population (a city centre) shows high "
            "rates on every indicator that are not like for like")
    context = " ".join(map(str, panel.context_variables)).lower()
    if not re.search(r"daytime|workday|visitor|commut", context):
        text += (", and its expected value cannot allow for that: no daytime population is "
                 "in the context data.")
    else:
        text += "."
    if who:
        text += (" Adverse on every indicator here, the pattern such a denominator produces: "
                 f"**{', '.join(who)}**.")
    return text


def adverse_on_every_indicator(table: pd.DataFrame, adverse: Iterable[str] = ("poor",),
                               column: str = "category") -> list[str]:
    """Units whose every indicator row (the overall row aside) is in `adverse`, sorted by id.

    For a :func:`goodpractice.classify.classify` table (category poor); for an exception report
    pass the per-unit count instead (:func:`units_with_every_indicator`).
    """
    per = table[table["indicator"] != OVERALL]
    if per.empty:
        return []
    bad = per[column].isin(list(adverse)).groupby(per["unit"]).all()
    return sorted(bad[bad].index)


def units_with_every_indicator(found: pd.DataFrame, n_indicators: int) -> list[str]:
    """Units with an exception on each of `n_indicators` indicators (an exception report)."""
    if found.empty:
        return []
    counts = found.groupby("unit")["indicator"].nunique()
    return sorted(counts[counts >= n_indicators].index)


def mark_units(chart: Any, funnel_df: pd.DataFrame, units: Iterable[str], panel: Panel) -> Any:
    """Ring and name `units` on a :func:`goodpractice.plots.funnel_plot` chart (e.g. the unit a
    review is about, or a cluster's members, which the funnel names only when they are
    outliers). Returns the chart."""
    from goodpractice.plots import mark_points

    names = unit_names(panel)
    rows = funnel_df[funnel_df["unit"].isin(list(units))]
    return mark_points(chart, rows, "denominator", "value",
                       [names.get(u, u) for u in rows["unit"]])
