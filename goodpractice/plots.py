"""Charts of the comparison tables: funnel plots, SPC charts and peer bars.

Plotting only: every function takes a DataFrame produced elsewhere (:func:`funnel`, :func:`xmr`,
:func:`compare`) and returns a matplotlib Figure drawn on an Agg canvas. Figures are built without
pyplot, so they work without a display, never change the session's backend and are not kept
alive by pyplot's figure registry; Jupyter shows a returned Figure as usual.
Save with ``fig.savefig("chart.png", dpi=150)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from goodpractice.errors import GoodPracticeError
from goodpractice.funnel import funnel_curve

# NHS "Making Data Count" palette: blue improvement, orange concern, purple neutral, grey common.
VARIATION_COLOURS = {"improvement": "#289de0", "concern": "#fab428", "neutral": "#361475",
                     "common": "#7b7d7d"}
FLAG_COLOURS = {"high_998": "#c0392b", "high_95": "#e67e22", "within": "#7b7d7d",
                "low_95": "#2e86c1", "low_998": "#1a5276"}
VERDICT_COLOURS = {"better": "#289de0", "worse": "#fab428", "similar": "#b3b6b7",
                   "no_peers": "#e5e7e9"}


class ReviewFigure(Figure):
    """A Figure that shows itself as a PNG in Jupyter with no pyplot backend set up.

    Without this, a kernel whose backend is not 'inline' (papermill runs, MPLBACKEND=Agg) shows
    only "<Figure size 800x512 with 1 Axes>" and the rendered review loses its charts.
    """

    def alt_text(self) -> str:
        """What the chart shows, for readers who cannot see it: its title and axis labels."""
        parts = []
        for ax in self.axes:
            title = ax.get_title().replace("\n", " ")
            axes = " against ".join(t.replace("\n", " ") for t in (ax.get_ylabel(), ax.get_xlabel())
                                    if t)
            parts.append(f"Chart: {title}" + (f" ({axes})" if axes else ""))
        return "; ".join(parts) or "Chart"

    def _repr_png_(self) -> tuple[bytes, dict[str, str]]:
        import io

        buffer = io.BytesIO()
        # zlib level 1: a third less encoding time (11 ms against 16 ms for a funnel plot) for a
        # PNG 9% larger.
        self.savefig(buffer, format="png", dpi=100, pil_kwargs={"compress_level": 1})
        # The metadata travels with the output; the review template writes it as the alt text.
        return buffer.getvalue(), {"alt": self.alt_text()}


# Rough text widths in inches for DejaVu Sans (matplotlib's default), per character: margins are
# set from them up front. A layout engine (constrained or tight) measures every text by drawing
# the figure once more, which doubled the cost of each chart in a review; a test checks that no
# text of the example charts falls outside its figure.
_INCH_PER_CHAR = {8: 0.062, 10: 0.078}


def _text_inches(texts, fontsize: int = 10) -> float:
    return max((len(str(t)) for t in texts), default=0) * _INCH_PER_CHAR[fontsize]


def _figure(width: float, height: float, left: float = 0.9, right: float = 0.25,
            bottom: float = 0.75, top: float = 0.45):
    """A figure with one axes and fixed margins in inches (left, right, bottom, top)."""
    fig = ReviewFigure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height)
    return fig, fig.subplots()


def legend_outside(ax, handles=None, labels=None) -> None:
    """The legend to the right of the axes, where it hides no data, and a right margin that holds
    it. Its place is fixed: no search for the emptiest corner (matplotlib's 'best', a large part of
    a chart's cost)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    fig = ax.figure
    width = fig.get_figwidth()
    right = 0.3
    if handles:
        ax.legend(handles, labels, fontsize=8, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        right = min(_legend_inches(labels), width / 2)
    fig.subplots_adjust(right=1 - right / width)


def _wrapped(text: str, inches: float, per_char: float) -> list[str]:
    import textwrap

    width = max(12, int(inches / per_char))
    return [line for part in str(text).split("\n") for line in textwrap.wrap(part, width) or [""]]


def _label(ax, title: str, xlabel: str, ylabel: str) -> None:
    """Title and axis labels, wrapped to the room they have, the margins grown to hold the extra
    lines (call after :func:`legend_outside`, which sets the right margin)."""
    fig = ax.figure
    width, height = fig.get_size_inches()
    sp = fig.subplotpars
    title_lines = _wrapped(title, width - 0.2, 0.1)  # 12 pt
    x_lines = _wrapped(xlabel, (sp.right - sp.left) * width, _INCH_PER_CHAR[10])
    y_lines = _wrapped(ylabel, (sp.top - sp.bottom) * height - 0.4, _INCH_PER_CHAR[10])
    line = 0.19  # inches per extra line of 10-12 pt text
    fig.subplots_adjust(top=1 - (0.26 + 0.21 * len(title_lines)) / height,
                        left=sp.left + line * (len(y_lines) - 1) / width,
                        bottom=sp.bottom + line * (len(x_lines) - 1) / height)
    ax.set_title("\n".join(title_lines))
    ax.set_xlabel("\n".join(x_lines))
    ax.set_ylabel("\n".join(y_lines))


def _legend_inches(labels) -> float:
    """Right margin that holds a legend of these labels (marker, gap, text)."""
    return 0.6 + _text_inches(labels, 8)


def _need(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise GoodPracticeError(
            f"{what} needs columns {', '.join(missing)}: pass the DataFrame returned by the "
            "matching analysis function"
        )


def funnel_plot(
    funnel_df: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    label: str = "high_95",
) -> Figure:
    """A funnel plot: each unit's value against its denominator, with 95% and 99.8% limits.

    `curves` are the limits over a grid of denominators (:func:`funnel_limits`); by default they
    come from the run's settings in ``funnel_df.attrs`` (:func:`funnel_curve`). Units flagged at
    least as far out as `label` (``high_95`` labels every 95% outlier, ``high_998`` only 99.8%
    ones, ``none`` no labels) are named on the chart.

        >>> fig = funnel_plot(funnel(df))  # doctest: +SKIP
    """
    _need(funnel_df, ["unit", "denominator", "value", "flag"], "funnel_plot")
    if curves is None:
        curves = funnel_curve(funnel_df)
    a = funnel_df.attrs
    kind = a.get("kind", "")
    fig, ax = _figure(9.5, 5.5)
    x = curves["denominator"]
    ax.plot(x, curves["target"], color="black", lw=1.2, label=f"Target ({curves['target'].iloc[0]:.4g})")
    ax.plot(x, curves["upper_95"], color="#2e86c1", lw=1, ls="--", label="95% limits")
    ax.plot(x, curves["lower_95"], color="#2e86c1", lw=1, ls="--")
    ax.plot(x, curves["upper_998"], color="#c0392b", lw=1, ls="-", label="99.8% limits")
    ax.plot(x, curves["lower_998"], color="#c0392b", lw=1, ls="-")
    for flag, colour in FLAG_COLOURS.items():
        pts = funnel_df[funnel_df["flag"] == flag]
        if not pts.empty:
            ax.scatter(pts["denominator"], pts["value"], s=28, color=colour, zorder=3,
                       edgecolor="white", linewidth=0.5,
                       label=f"{flag.replace('_', ' ')} ({len(pts)})")
    levels = {"high_95": ("high_95", "high_998", "low_95", "low_998"),
              "high_998": ("high_998", "low_998"), "none": ()}
    if label not in levels:
        raise GoodPracticeError(f"label must be 'high_95', 'high_998' or 'none'; got {label!r}")
    for _, row in funnel_df[funnel_df["flag"].isin(levels[label])].iterrows():
        ax.annotate(str(row["unit"]), (row["denominator"], row["value"]), xytext=(4, 3),
                    textcoords="offset points", fontsize=8)
    default_x = {"ratio": "Expected count (E)", "proportion": "Denominator (n)",
                 "rate": "Exposure (denominator)"}.get(kind, "Denominator")
    default_y = {"ratio": "Observed / expected"}.get(kind, "Value")
    if a.get("multiplier", 1) not in (1, 1.0) and kind != "ratio":
        default_y = f"Value (x {a['multiplier']:g})"
    od = a.get("overdispersion", "none")
    sub = (f"over-dispersion: {od}" + (f", tau\u00b2 = {a['tau2']:.3g}" if od == "additive" else "")
           + (f", phi = {a['phi']:.3g}" if od != "none" and np.isfinite(a.get("phi", np.nan))
              else ""))
    legend_outside(ax)
    _label(ax, title or f"Funnel plot ({kind}; {sub})", xlabel or default_x, ylabel or default_y)
    ax.grid(alpha=0.3)
    return fig


def spc_chart(
    xmr_df: pd.DataFrame,
    title: str | None = None,
    ylabel: str = "Value",
    xlabel: str = "Period",
) -> Figure:
    """An XmR chart: the series, mean, process limits, special causes coloured, target if any.

        >>> fig = spc_chart(xmr([5, 6, 5, 7, 6, 5, 6, 20]))  # doctest: +SKIP
    """
    _need(xmr_df, ["period", "value", "mean", "lpl", "upl", "variation"], "spc_chart")
    fig, ax = _figure(9.5, 4.8, bottom=0.95)
    pos = np.arange(len(xmr_df))
    ax.plot(pos, xmr_df["value"], color="#7b7d7d", lw=1, zorder=1)
    ax.plot(pos, xmr_df["mean"], color="black", lw=1, label=f"Mean ({xmr_df['mean'].iloc[0]:.4g})")
    ax.plot(pos, xmr_df["upl"], color="#7b7d7d", ls="--", lw=1, label="Process limits")
    ax.plot(pos, xmr_df["lpl"], color="#7b7d7d", ls="--", lw=1)
    if "target" in xmr_df.columns and xmr_df["target"].notna().any():
        ax.plot(pos, xmr_df["target"], color="#c0392b", ls=":", lw=1.5,
                label=f"Target ({xmr_df['target'].iloc[0]:.4g})")
    for variation, colour in VARIATION_COLOURS.items():
        m = (xmr_df["variation"] == variation).to_numpy()
        if m.any():
            name = "common cause" if variation == "common" else f"special cause: {variation}"
            ax.scatter(pos[m], xmr_df["value"].to_numpy()[m], color=colour, s=30, zorder=3,
                       label=f"{name} ({int(m.sum())})")
    step = max(1, len(pos) // 12)
    ax.set_xticks(pos[::step], [str(p) for p in xmr_df["period"].iloc[::step]], rotation=45,
                  ha="right", fontsize=8)
    assurance = xmr_df.attrs.get("assurance")
    legend_outside(ax)
    _label(ax, title or "XmR chart" + (f" (assurance: {assurance.replace('_', ' ')})"
                                       if assurance else ""), xlabel, ylabel)
    ax.grid(alpha=0.3)
    return fig


def peer_bars(
    data: pd.DataFrame | pd.Series,
    unit: str | None = None,
    title: str | None = None,
    xlabel: str = "Value",
    ylabel: str = "Unit",
) -> Figure:
    """Horizontal bars of each unit's value, coloured by its verdict against its peers.

    `data` is a :func:`compare` result for one indicator and period (or a Series / DataFrame of
    unit and value). With `unit`, only that unit and its peers are shown, with the peer-group
    and national averages as lines; otherwise every unit, sorted.

        >>> fig = peer_bars(compare(panel, "crime_burglary", "2024-01"), unit="camden")  # doctest: +SKIP
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
    rows = rows.sort_values("value")
    colours = [VERDICT_COLOURS.get(v, "#b3b6b7") for v in
               (rows["peer_verdict"] if "peer_verdict" in rows.columns
                else ["similar"] * len(rows))]
    fig, ax = _figure(9.5, max(3.0, 0.28 * len(rows) + 1.2),
                      left=0.55 + _text_inches(rows["unit"].astype(str)))
    bars = ax.barh(rows["unit"].astype(str), rows["value"], color=colours)
    if unit is not None:
        for bar, u in zip(bars, rows["unit"], strict=True):
            if u == unit:
                bar.set_edgecolor("black")
                bar.set_linewidth(1.5)
    if focus is not None and "peer_value" in rows.columns and np.isfinite(focus["peer_value"]):
        ax.axvline(focus["peer_value"], color="black", ls="--", lw=1,
                   label=f"{unit}'s peer average ({focus['peer_value']:.3g})")
    if "national_value" in rows.columns and len(rows):
        nv = rows["national_value"].iloc[0]
        ax.axvline(nv, color="#c0392b", ls=":", lw=1.5, label=f"National average ({nv:.3g})")
    handles = [Patch(color=c) for c in VERDICT_COLOURS.values()]
    labels = [f"vs peers: {v.replace('_', ' ')}" for v in VERDICT_COLOURS]
    line_handles, line_labels = ax.get_legend_handles_labels()
    if "peer_verdict" in rows.columns:
        legend_outside(ax, line_handles + handles, line_labels + labels)
    else:
        legend_outside(ax)
    ind = f" - {data['indicator'].iloc[0]}" if "indicator" in data.columns else ""
    per = f", {data['period'].iloc[0]}" if "period" in data.columns else ""
    default = (f"{unit} and its most similar peers{ind}{per}" if unit
               else f"All units{ind}{per}")
    _label(ax, title or default, xlabel, ylabel)
    ax.grid(axis="x", alpha=0.3)
    return fig
