"""Charts of the comparison tables: funnel plots, SPC charts and peer bars, as Vega-Lite.

Plotting only: every function takes a DataFrame produced elsewhere (:func:`funnel`, :func:`xmr`,
:func:`compare`) and returns a :class:`Chart`, a Vega-Lite specification with its data inline.
Building one costs milliseconds and no drawing library: the reader's browser draws it (a rendered
review carries the Vega libraries itself, no network), JupyterLab shows it natively, and
``chart.save("chart.png")`` / ``.svg`` / ``.html`` renders it offline with vl-convert.
Hovering a mark shows its unit and values; every chart has a description (its title and axes)
that screen readers announce.

    >>> chart = funnel_plot(funnel(df))  # doctest: +SKIP
    >>> chart.save("funnel.png")         # doctest: +SKIP
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError
from goodpractice.funnel import funnel_curve

#: The MIME type Jupyter front ends render and the review template turns into a chart.
VEGALITE_MIME = "application/vnd.vegalite.v5+json"
#: The Vega-Lite release the review pages and offline exports compile with (vl-convert bundles
#: it, with Vega 6). Specifications are also valid for Vega-Lite 5.20, which JupyterLab draws.
VEGALITE_VERSION = "6.4"
_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched

# NHS "Making Data Count" palette: blue improvement, orange concern, purple neutral, grey common.
VARIATION_COLOURS = {"improvement": "#289de0", "concern": "#fab428", "neutral": "#361475",
                     "common": "#7b7d7d"}
FLAG_COLOURS = {"high_998": "#c0392b", "high_95": "#e67e22", "within": "#7b7d7d",
                "low_95": "#2e86c1", "low_998": "#1a5276"}
VERDICT_COLOURS = {"better": "#289de0", "worse": "#fab428", "similar": "#b3b6b7",
                   "no_peers": "#e5e7e9"}
WIDTH, HEIGHT = 560, 320  # pixels of the plotting area; legends sit to its right
_TITLE_CHARS = 80  # a longer title wraps onto more lines


class Chart:
    """A Vega-Lite chart: the specification (``.spec``, a plain dict) and ways to show it.

    Jupyter shows it through :meth:`_repr_mimebundle_` (the chart, and its description as plain
    text for front ends that cannot draw it). :meth:`save` writes ``.json``, ``.html`` (one
    self-contained file), ``.svg``, ``.png`` or ``.pdf``.
    """

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec

    def alt_text(self) -> str:
        """What the chart shows, for readers who cannot see it: its title and axis titles."""
        return self.spec.get("description") or "Chart"

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.spec)

    def data(self, layer: int = 0) -> pd.DataFrame:
        """The rows a layer draws (its inline CSV read with its types).

            >>> funnel_plot(f).data(1)  # the units' points  # doctest: +SKIP
        """
        import io

        data = self.spec["layer"][layer]["data"]
        parse = data["format"]["parse"]
        df = pd.read_csv(io.StringIO(data["values"]), keep_default_na=False, na_values=[""],
                         dtype={c: str for c, kind in parse.items() if kind == "string"})
        for col, kind in parse.items():
            if kind == "string":
                df[col] = df[col].fillna("")
        return df

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {VEGALITE_MIME: self.spec, "text/plain": self.alt_text()}

    def __repr__(self) -> str:
        return f"<{self.alt_text()}>"

    def save(self, path: str | Path, scale: float = 2.0) -> Path:
        """Write the chart; the format follows the suffix (.json .html .svg .png .pdf)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(json.dumps(self.spec, indent=1), encoding="utf-8")
            return path
        import vl_convert as vlc

        version = VEGALITE_VERSION
        if suffix == ".html":
            path.write_text(vlc.vegalite_to_html(self.spec, vl_version=version, bundle=True),
                            encoding="utf-8")
        elif suffix == ".svg":
            path.write_text(vlc.vegalite_to_svg(self.spec, vl_version=version), encoding="utf-8")
        elif suffix == ".png":
            path.write_bytes(vlc.vegalite_to_png(self.spec, vl_version=version, scale=scale))
        elif suffix == ".pdf":
            path.write_bytes(vlc.vegalite_to_pdf(self.spec, vl_version=version))
        else:
            raise GoodPracticeError(
                f"cannot save a chart as {path.name!r}: use .json, .html, .svg, .png or .pdf"
            )
        return path


def _data(df: pd.DataFrame) -> dict[str, Any]:
    """A layer's data inline as CSV text with a type for every column.

    A review draws ten charts; as a list of row objects their data made every step that copies
    or writes the notebook (the kernel's message, papermill, nbconvert) walk thousands of small
    JSON objects: 0.15-0.25 s of a 1.9 s review. One string per layer costs next to nothing.
    Missing values and infinities are empty cells, which Vega reads as null; booleans are 1/0.
    The text is written column by column with the csv module: a layer has tens to hundreds of
    rows, for which ``DataFrame.to_csv`` spent 3.6 ms a layer on its own machinery (now 0.6 ms).
    """
    columns, parse = [], {}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            columns.append(["" if pd.isna(v) else ("1" if v else "0") for v in s.tolist()])
            parse[col] = "number"
        elif pd.api.types.is_numeric_dtype(s):
            values = s.to_numpy(dtype=float, na_value=np.nan)
            columns.append([format(v, ".10g") if math.isfinite(v) else "" for v in values.tolist()])
            parse[col] = "number"
        else:
            columns.append(["" if pd.isna(v) else v for v in s.astype(str).tolist()])
            parse[col] = "string"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([str(c) for c in df.columns])
    writer.writerows(zip(*columns, strict=True))
    return {"values": buffer.getvalue(), "format": {"type": "csv", "parse": parse}}


def _lines(text: str) -> str | list[str]:
    """A title as Vega-Lite writes a multi-line one (a list), wrapped at ``_TITLE_CHARS``."""
    lines = [w for part in str(text).split("\n")
             for w in (textwrap.wrap(part, _TITLE_CHARS) or [""])]
    return lines[0] if len(lines) == 1 else lines


def _chart(title: str, xlabel: str, ylabel: str, layers: list[dict[str, Any]],
           height: int = HEIGHT, **extra: Any) -> Chart:
    flat = " ".join(str(title).split())
    axes = " against ".join(t for t in (" ".join(str(ylabel).split()),
                                        " ".join(str(xlabel).split())) if t)
    spec = {
        "$schema": _SCHEMA,
        "description": f"Chart: {flat}" + (f" ({axes})" if axes else ""),
        "title": {"text": _lines(title), "anchor": "start", "fontSize": 14},
        "width": WIDTH,
        "height": height,
        "layer": layers,
        "config": {"view": {"stroke": None}, "axis": {"labelFontSize": 11, "titleFontSize": 12},
                   "legend": {"labelFontSize": 11, "labelLimit": 320, "titleFontSize": 11}},
        **extra,
    }
    return Chart(spec)


def _named(units: pd.Series, names: Mapping[str, str] | None) -> pd.Series:
    """Unit ids as their names where `names` knows them, as text."""
    text = units.astype(str)
    return text.map(lambda u: str(names.get(u, u))) if names else text


def _need(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise GoodPracticeError(
            f"{what} needs columns {', '.join(missing)}: pass the DataFrame returned by the "
            "matching analysis function"
        )


def _colour(field: str, domain: list[str], colours: list[str], title: str | None,
            legend: bool = True) -> dict[str, Any]:
    enc = {"field": field, "type": "nominal", "scale": {"domain": domain, "range": colours},
           "title": title}
    if not legend:
        enc["legend"] = None
    return enc


def _number(value: float) -> str:
    return f"{value:.4g}" if value is not None and math.isfinite(value) else "n/a"


def funnel_plot(
    funnel_df: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    label: str = "high_95",
    names: Mapping[str, str] | None = None,
) -> Chart:
    """A funnel plot: each unit's value against its denominator, with 95% and 99.8% limits.

    `curves` are the limits over a grid of denominators (:func:`funnel_limits`); by default they
    come from the run's settings in ``funnel_df.attrs`` (:func:`funnel_curve`). Units flagged at
    least as far out as `label` (``high_95`` names every 95% outlier, ``high_998`` only 99.8%
    ones, ``none`` none) are named on the chart; every dot names its unit when hovered.
    `names` maps unit ids to the names shown (e.g. ``unit_names(panel)``); ids otherwise.
    :func:`mark_units` rings and names chosen units.

        >>> chart = funnel_plot(funnel(df))  # doctest: +SKIP
    """
    _need(funnel_df, ["unit", "denominator", "value", "flag"], "funnel_plot")
    levels = {"high_95": ("high_95", "high_998", "low_95", "low_998"),
              "high_998": ("high_998", "low_998"), "none": ()}
    if label not in levels:
        raise GoodPracticeError(f"label must be 'high_95', 'high_998' or 'none'; got {label!r}")
    if curves is None:
        curves = funnel_curve(funnel_df)
    a = funnel_df.attrs
    kind = a.get("kind", "")

    target_name = f"Target ({_number(float(curves['target'].iloc[0]))})"
    # The limits are smooth: 80 points draw them as well as funnel_curve's 200, in a third of the
    # page. One wide row per denominator; the chart folds it into its five lines.
    keep = np.unique(np.linspace(0, len(curves) - 1, min(len(curves), 80)).round().astype(int))
    parts = ["target", "upper_95", "lower_95", "upper_998", "lower_998"]
    limit_names = [target_name, "95% limits", "99.8% limits"]
    line_of = (f"datum.part == 'target' ? {json.dumps(target_name)} : "
               "indexof(datum.part, '998') >= 0 ? '99.8% limits' : '95% limits'")
    limits = {
        "data": _data(curves.iloc[keep][["denominator", *parts]]),
        "transform": [{"fold": parts, "as": ["part", "value"]},
                      {"calculate": line_of, "as": "line"}],
        "mark": {"type": "line", "strokeWidth": 1.2, "clip": True},
        "encoding": {
            "x": {"field": "denominator", "type": "quantitative"},
            "y": {"field": "value", "type": "quantitative"},
            "detail": {"field": "part"},
            "color": _colour("line", limit_names, ["#000000", "#2e86c1", "#c0392b"], "Funnel"),
            "strokeDash": {"field": "line", "type": "nominal", "legend": None,
                           "scale": {"domain": limit_names, "range": [[1, 0], [5, 3], [1, 0]]}},
        },
    }

    counts = funnel_df["flag"].value_counts()
    shown = [f for f in FLAG_COLOURS if counts.get(f, 0)]
    flag_name = {f: f"{f.replace('_', ' ')} ({counts.get(f, 0)})" for f in FLAG_COLOURS}
    cols = [c for c in ("unit", "denominator", "value", "flag", "z") if c in funnel_df.columns]
    points_df = funnel_df[cols].assign(
        unit=_named(funnel_df["unit"], names), flag_label=funnel_df["flag"].map(flag_name))
    tooltip = [{"field": "unit", "title": "Unit"},
               {"field": "value", "type": "quantitative", "title": "Value", "format": ".4~g"},
               {"field": "denominator", "type": "quantitative", "title": "Denominator",
                "format": ",.4~g"},
               {"field": "flag_label", "title": "Position"}]
    if "z" in cols:
        tooltip.append({"field": "z", "type": "quantitative", "title": "z", "format": ".2f"})
    points = {
        "data": _data(points_df),
        "mark": {"type": "circle", "size": 50, "opacity": 0.9, "stroke": "white",
                 "strokeWidth": 0.5},
        "encoding": {
            "x": {"field": "denominator", "type": "quantitative"},
            "y": {"field": "value", "type": "quantitative"},
            "color": _colour("flag_label", [flag_name[f] for f in shown],
                             [FLAG_COLOURS[f] for f in shown], "Units"),
            "tooltip": tooltip,
        },
    }
    named = points_df[points_df["flag"].isin(levels[label])]
    labels = {
        "data": _data(named[["unit", "denominator", "value"]]),
        "mark": {"type": "text", "align": "left", "dx": 5, "dy": -6, "fontSize": 10},
        "encoding": {"x": {"field": "denominator", "type": "quantitative"},
                     "y": {"field": "value", "type": "quantitative"},
                     "text": {"field": "unit"}},
    }

    default_x = {"ratio": "Expected count (E)", "proportion": "Denominator (n)",
                 "rate": "Exposure (denominator)"}.get(kind, "Denominator")
    default_y = {"ratio": "Observed / expected"}.get(kind, "Value")
    if a.get("multiplier", 1) not in (1, 1.0) and kind != "ratio":
        default_y = f"Value (x {a['multiplier']:g})"
    od = a.get("overdispersion", "none")
    sub = (f"over-dispersion: {od}" + (f", tau\u00b2 = {a['tau2']:.3g}" if od == "additive" else "")
           + (f", phi = {a['phi']:.3g}" if od != "none" and np.isfinite(a.get("phi", np.nan))
              else ""))
    xlabel, ylabel = xlabel or default_x, ylabel or default_y
    limits["encoding"]["x"]["title"] = points["encoding"]["x"]["title"] = xlabel
    limits["encoding"]["y"]["title"] = points["encoding"]["y"]["title"] = ylabel
    return _chart(title or f"Funnel plot ({kind}; {sub})", xlabel, ylabel,
                  [limits, points, labels],
                  resolve={"scale": {"color": "independent"},
                           "legend": {"color": "independent"}})


def mark_points(chart: Chart, rows: pd.DataFrame, x: str, y: str, names: list[str],
                legend: str = "this review's units") -> Chart:
    """Ring and name the points at (`x`, `y`) of `rows` on a scatter `chart`, e.g. the units a
    review is about; `names` label them (one per row). Returns the chart."""
    data = pd.DataFrame({"x": rows[x].to_numpy(), "y": rows[y].to_numpy(),
                         "name": [str(n) for n in names], "marked": legend})
    enc = {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}}
    chart.spec["layer"] += [
        {"data": _data(data),
         "mark": {"type": "point", "size": 160, "filled": False, "strokeWidth": 1.6},
         "encoding": {**enc, "shape": {"field": "marked", "type": "nominal", "title": None},
                      "color": {"value": "black"}, "tooltip": [{"field": "name", "title": "Unit"}]}},
        {"data": _data(data),
         "mark": {"type": "text", "align": "left", "dx": 7, "dy": 10, "fontSize": 10,
                  "fontWeight": "bold"},
         "encoding": {**enc, "text": {"field": "name"}}},
    ]
    return chart


def spc_chart(
    xmr_df: pd.DataFrame,
    title: str | None = None,
    ylabel: str = "Value",
    xlabel: str = "Period",
) -> Chart:
    """An XmR chart: the series, mean, process limits, special causes coloured, target if any.

        >>> chart = spc_chart(xmr([5, 6, 5, 7, 6, 5, 6, 20]))  # doctest: +SKIP
    """
    _need(xmr_df, ["period", "value", "mean", "lpl", "upl", "variation"], "spc_chart")
    df = xmr_df.reset_index(drop=True).assign(period=lambda d: d["period"].astype(str))
    order = list(df["period"])
    step = max(1, len(order) // 12)  # about a dozen labelled periods, however long the series
    x = {"field": "period", "type": "ordinal", "sort": order, "title": xlabel,
         "axis": {"labelAngle": -45, "values": order[::step]}}
    # padding: a limit or target at the edge of the data is not drawn over the axis line
    y = {"field": "value", "type": "quantitative", "title": ylabel,
         "scale": {"zero": False, "padding": 12}}

    line_names = {"mean": f"Mean ({_number(float(df['mean'].iloc[0]))})",
                  "upl": "Process limits", "lpl": "Process limits"}
    colours = {"mean": "#000000", "upl": "#7b7d7d", "lpl": "#7b7d7d"}
    dashes = {"mean": [1, 0], "upl": [5, 3], "lpl": [5, 3]}
    has_target = "target" in df.columns and df["target"].notna().any()
    if has_target:
        line_names["target"] = f"Target ({_number(float(df['target'].dropna().iloc[0]))})"
        colours["target"], dashes["target"] = "#c0392b", [2, 2]
    domain = list(dict.fromkeys(line_names.values()))
    first = {name: col for col, name in reversed(line_names.items())}
    line_of = " : ".join(f"datum.part == {json.dumps(col)} ? {json.dumps(name)}"
                         for col, name in line_names.items()) + " : ''"
    guides = {  # one wide row per period, folded into the lines
        "data": _data(df[["period", *line_names]]),
        "transform": [{"fold": list(line_names), "as": ["part", "value"]},
                      {"calculate": line_of, "as": "line"}],
        "mark": {"type": "line", "strokeWidth": 1.2},
        "encoding": {
            "x": x, "y": y, "detail": {"field": "part"},
            "color": _colour("line", domain, [colours[first[n]] for n in domain], "Lines"),
            "strokeDash": {"field": "line", "type": "nominal", "legend": None,
                           "scale": {"domain": domain, "range": [dashes[first[n]] for n in domain]}},
        },
    }
    series = {"data": _data(df[["period", "value"]]),
              "mark": {"type": "line", "color": "#7b7d7d", "strokeWidth": 1},
              "encoding": {"x": x, "y": y}}

    counts = df["variation"].value_counts()
    shown = [v for v in VARIATION_COLOURS if counts.get(v, 0)]
    var_name = {v: ("common cause" if v == "common" else f"special cause: {v}")
                + f" ({counts.get(v, 0)})" for v in VARIATION_COLOURS}
    point_df = df[["period", "value", "variation"]].assign(
        variation_label=df["variation"].map(var_name))
    if "rule" in df.columns:
        point_df["rule"] = df["rule"].fillna("").astype(str)
    tooltip = [{"field": "period", "title": "Period"},
               {"field": "value", "type": "quantitative", "title": "Value", "format": ".4~g"},
               {"field": "variation_label", "title": "Variation"}]
    if "rule" in point_df.columns:
        tooltip.append({"field": "rule", "title": "Rule"})
    points = {
        "data": _data(point_df),
        "mark": {"type": "circle", "size": 45, "opacity": 1},
        "encoding": {"x": x, "y": y,
                     "color": _colour("variation_label", [var_name[v] for v in shown],
                                      [VARIATION_COLOURS[v] for v in shown], "Points"),
                     "tooltip": tooltip},
    }
    assurance = xmr_df.attrs.get("assurance")
    default = "XmR chart" + (f" (assurance: {assurance.replace('_', ' ')})" if assurance else "")
    return _chart(title or default, xlabel, ylabel, [guides, series, points], height=280,
                  resolve={"scale": {"color": "independent"},
                           "legend": {"color": "independent"}})


def peer_bars(
    data: pd.DataFrame | pd.Series,
    unit: str | None = None,
    title: str | None = None,
    xlabel: str = "Value",
    ylabel: str = "Unit",
    names: Mapping[str, str] | None = None,
) -> Chart:
    """Horizontal bars of each unit's value, coloured by its verdict against its peers.

    `data` is a :func:`compare` result for one indicator and period (or a Series / DataFrame of
    unit and value). With `unit`, only that unit and its peers are shown, with the peer-group
    and national averages as lines; otherwise every unit, sorted. `names` maps unit ids to the
    names shown (e.g. ``unit_names(panel)``); ids otherwise.

        >>> chart = peer_bars(compare(panel, "crime_burglary", "2024-01"), unit="camden")  # doctest: +SKIP
    """
    if isinstance(data, pd.Series):
        data = pd.DataFrame({"unit": data.index.astype(str), "value": data.to_numpy()})
    _need(data, ["unit", "value"], "peer_bars")
    if "indicator" in data.columns and data["indicator"].nunique() > 1:
        raise GoodPracticeError(
            "peer_bars shows one indicator: filter the compare result first, e.g. "
            "df[df['indicator'] == 'crime_burglary']"
        )
    rows = data
    focus = None
    if unit is not None:
        match = data[data["unit"] == unit]
        if match.empty:
            raise GoodPracticeError(f"unit {unit!r} is not in the data")
        focus = match.iloc[0]
        if "peers" in data.columns:
            group = [unit] + [p for p in str(focus["peers"]).split(", ") if p]
            rows = data[data["unit"].isin(group)]
    rows = rows.sort_values("value", ascending=False)
    has_verdict = "peer_verdict" in rows.columns
    bar_df = pd.DataFrame({
        "unit": _named(rows["unit"], names).to_numpy(), "value": rows["value"].to_numpy(),
        "verdict": [f"vs peers: {v.replace('_', ' ')}" for v in
                    (rows["peer_verdict"].fillna("similar") if has_verdict
                     else ["similar"] * len(rows))],
        "this_unit": (rows["unit"] == unit).to_numpy() if unit is not None else False,
    })
    order = list(bar_df["unit"])
    y = {"field": "unit", "type": "nominal", "sort": order, "title": ylabel,
         "axis": {"labelLimit": 320}}
    xq = {"field": "value", "type": "quantitative", "title": xlabel}
    verdicts = list(VERDICT_COLOURS)
    bars = {
        "data": _data(bar_df),
        "mark": {"type": "bar", "height": {"band": 0.8}},
        "encoding": {
            "y": y, "x": xq,
            "color": _colour("verdict", [f"vs peers: {v.replace('_', ' ')}" for v in verdicts],
                             list(VERDICT_COLOURS.values()), None, legend=has_verdict),
            "stroke": {"condition": {"test": "datum.this_unit == 1", "value": "black"},
                       "value": None},
            "strokeWidth": {"condition": {"test": "datum.this_unit == 1", "value": 2}, "value": 0},
            "tooltip": [{"field": "unit", "title": "Unit"},
                        {"field": "value", "type": "quantitative", "title": "Value",
                         "format": ".4~g"}]
                       + ([{"field": "verdict", "title": "Verdict"}] if has_verdict else []),
        },
    }
    layers = [bars]
    shown = _named(pd.Series([unit]), names).iloc[0] if unit is not None else ""
    refs = []
    if focus is not None and "peer_value" in rows.columns and np.isfinite(focus["peer_value"]):
        refs.append((f"{shown}'s peer average ({float(focus['peer_value']):.3g})",
                     float(focus["peer_value"]), "#000000", [5, 3]))
    if "national_value" in rows.columns and len(rows) and np.isfinite(rows["national_value"].iloc[0]):
        nv = float(rows["national_value"].iloc[0])
        refs.append((f"National average ({nv:.3g})", nv, "#c0392b", [2, 2]))
    if refs:
        ref_names = [r[0] for r in refs]
        layers.append({
            "data": _data(pd.DataFrame({"line": [r[0] for r in refs],
                                        "value": [r[1] for r in refs]})),
            "mark": {"type": "rule", "strokeWidth": 1.5},
            "encoding": {
                "x": {"field": "value", "type": "quantitative"},
                "color": _colour("line", ref_names, [r[2] for r in refs], "Averages"),
                "strokeDash": {"field": "line", "type": "nominal", "legend": None,
                               "scale": {"domain": ref_names, "range": [r[3] for r in refs]}},
                "tooltip": [{"field": "line", "title": "Line"}],
            },
        })
    ind = f" - {data['indicator'].iloc[0]}" if "indicator" in data.columns else ""
    per = f", {data['period'].iloc[0]}" if "period" in data.columns else ""
    default = (f"{shown} and its most similar peers{ind}{per}" if unit
               else f"All units{ind}{per}")
    return _chart(title or default, xlabel, ylabel, layers, height=max(60, 20 * len(bar_df)),
                  resolve={"scale": {"color": "independent"},
                           "legend": {"color": "independent"}})
