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
            title = ax.get_title()
            axes = " against ".join(t for t in (ax.get_ylabel(), ax.get_xlabel()) if t)
            parts.append(f"Chart: {title}" + (f" ({axes})" if axes else ""))
        return "; ".join(parts) or "Chart"

    def _repr_png_(self) -> tuple[bytes, dict[str, str]]:
        import io

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        # The metadata travels with the output; the review template writes it as the alt text.
        return buffer.getvalue(), {"alt": self.alt_text()}


def _figure(width: float, height: float):
    fig = ReviewFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


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
    fig, ax = _figure(8, 5.5)
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
    ax.set_xlabel(xlabel or default_x)
    ax.set_ylabel(ylabel or default_y)
    od = a.get("overdispersion", "none")
    sub = (f"over-dispersion: {od}" + (f", tau\u00b2 = {a['tau2']:.3g}" if od == "additive" else "")
           + (f", phi = {a['phi']:.3g}" if od != "none" and np.isfinite(a.get("phi", np.nan))
              else ""))
    ax.set_title(title or f"Funnel plot ({kind}; {sub})")
    ax.legend(loc="best", fontsize=8, frameon=False)
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
    fig, ax = _figure(9, 4.8)
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
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    assurance = xmr_df.attrs.get("assurance")
    ax.set_title(title or "XmR chart" + (f" (assurance: {assurance.replace('_', ' ')})"
                                         if assurance else ""))
    ax.legend(loc="best", fontsize=8, frameon=False)
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
    fig, ax = _figure(8, max(3.0, 0.28 * len(rows) + 1.2))
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
        ax.legend(line_handles + handles, line_labels + labels, fontsize=8, frameon=False,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
    elif line_handles:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ind = f" - {data['indicator'].iloc[0]}" if "indicator" in data.columns else ""
    per = f", {data['period'].iloc[0]}" if "period" in data.columns else ""
    default = (f"{unit} and its most similar peers{ind}{per}" if unit
               else f"All units{ind}{per}")
    ax.set_title(title or default)
    ax.grid(axis="x", alpha=0.3)
    return fig
