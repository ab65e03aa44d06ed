"""Charts: each function returns a Figure with the expected title, labels and legend, and saves."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import goodpractice as gp
from goodpractice.compare import compare
from goodpractice.errors import GoodPracticeError
from goodpractice.funnel import funnel
from goodpractice.plots import funnel_plot, peer_bars, spc_chart
from goodpractice.spc import xmr


@pytest.fixture(scope="module")
def london():
    return gp.load_example("london")


def _png_ok(fig: Figure, path) -> None:
    fig.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000


def test_funnel_plot(london, tmp_path):
    r = london.rates("crime_burglary")
    cur = r[r["period"] == "2024-01"][["unit", "numerator", "denominator"]]
    f = funnel(cur, kind="rate", multiplier=1000)
    fig = funnel_plot(f)
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert ax.get_title().startswith("Funnel plot (rate; over-dispersion: additive")
    assert ax.get_xlabel() == "Exposure (denominator)"
    assert ax.get_ylabel() == "Value (x 1000)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "95% limits" in legend and "99.8% limits" in legend
    labelled = {t.get_text() for t in ax.texts}
    assert labelled == set(f.loc[f["flag"] != "within", "unit"])
    _png_ok(fig, tmp_path / "funnel.png")


def test_spc_chart(london, tmp_path):
    r = london.rates("crime_burglary")
    s = r[r["unit"] == "camden"].sort_values("period").tail(36).set_index("period")["rate"]
    chart = xmr(s, improvement="decrease", target=0.5)
    fig = spc_chart(chart, title="Camden burglary", ylabel="Burglaries per 1,000")
    ax = fig.axes[0]
    assert ax.get_title() == "Camden burglary"
    assert ax.get_ylabel() == "Burglaries per 1,000"
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "Process limits" in legend and "Target (0.5)" in legend
    default = spc_chart(chart).axes[0].get_title()
    assert default == f"XmR chart (assurance: {chart.attrs['assurance'].replace('_', ' ')})"
    _png_ok(fig, tmp_path / "spc.png")


def test_peer_bars(london, tmp_path):
    c = compare(london, "crime_burglary", "2024-01")
    fig = peer_bars(c, unit="camden", xlabel="Burglaries per 1,000")
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    peers = c.set_index("unit").loc["camden", "peers"].split(", ")
    assert set(names) == {"camden", *peers}
    assert ax.get_title() == "camden and its most similar peers - crime_burglary, 2024-01"
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "peer average" in legend and "National average" in legend
    everyone = peer_bars(c)
    assert len(everyone.axes[0].patches) == 32
    _png_ok(fig, tmp_path / "bars.png")


def test_peer_bars_accepts_a_series(tmp_path):
    s = pd.Series(np.arange(5.0), index=list("abcde"))
    fig = peer_bars(s, title="Values")
    assert fig.axes[0].get_title() == "Values"
    _png_ok(fig, tmp_path / "series.png")


def test_plots_refuse_the_wrong_table():
    with pytest.raises(GoodPracticeError, match="funnel_plot needs columns"):
        funnel_plot(pd.DataFrame({"unit": ["a"]}))
    with pytest.raises(GoodPracticeError, match="spc_chart needs columns"):
        spc_chart(pd.DataFrame({"value": [1.0]}))


def test_figures_show_as_png_without_a_pyplot_backend():
    # papermill kernels may have no inline backend: the Figure itself must offer a PNG.
    from IPython.core.formatters import PNGFormatter

    from goodpractice.plots import spc_chart
    from goodpractice.spc import xmr

    fig = spc_chart(xmr([5, 6, 5, 7, 6, 5, 8, 6, 5, 6]), title="Test")
    png, metadata = PNGFormatter()(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert metadata["alt"].startswith("Chart: Test")


def _spill(fig: Figure) -> dict[str, float]:
    """Inches by which the drawn chart (every visible artist, text included) leaves its figure."""
    renderer = fig.canvas.get_renderer()
    drawn = fig.get_tightbbox(renderer)  # inches
    width, height = fig.get_size_inches()
    spill = {"left": -drawn.x0, "bottom": -drawn.y0, "right": drawn.x1 - width,
             "top": drawn.y1 - height}
    return {side: round(v, 2) for side, v in spill.items() if v > 0.02}


@pytest.mark.parametrize("dataset", ["forces", "london"])
def test_no_chart_text_falls_outside_its_figure(dataset):
    # Margins are set from estimated text widths, not measured by a layout engine (plots._figure):
    # every chart a review draws, on both example panels' longest names and titles, must fit.
    from goodpractice.funnel import funnel_curve
    from goodpractice.reviews.readers import axis_label, mark_units

    panel = gp.load_example(dataset)
    period = "2017-18" if dataset == "forces" else "2023-12"
    indicators = list(panel.indicators["indicator"])
    comparison = compare(panel, indicators, period)
    names = panel.units.set_index("unit")["name"]
    longest = names.str.len().idxmax()
    charts = []
    for ind in indicators:
        spec = panel.indicator(ind)
        rates = panel.rates(ind).dropna(subset="rate")
        if rates[rates["period"] == period].empty:
            continue
        f = funnel(rates[rates["period"] == period], kind=spec["kind"], multiplier=spec["multiplier"])
        charts.append(mark_units(funnel_plot(f, curves=funnel_curve(f), title=f"{spec['label']}, {period}",
                                             ylabel=axis_label(panel, ind)), f, [longest, *f["unit"]], panel))
        series = rates[(rates["unit"] == longest) & (rates["period"] <= period)].dropna(subset="rate")
        if len(series) >= 3:
            charts.append(spc_chart(xmr(series.set_index("period")["rate"].sort_index()),
                                    title=f"{names[longest]}: {spec['label']}",
                                    ylabel=spec["label"]))  # longer than the reviews' axis_label
        charts.append(peer_bars(comparison[comparison["indicator"] == ind], unit=longest,
                                title=spec["label"]))
        everyone = comparison[comparison["indicator"] == ind].assign(unit=lambda d: d["unit"].map(names))
        charts.append(peer_bars(everyone, title=f"{spec['label']}:\nevery unit, {period}"))
    spills = {f"{i}: {fig.axes[0].get_title()!r}": _spill(fig) for i, fig in enumerate(charts)}
    assert len(charts) >= 3 * len(indicators) - 3
    assert {chart: s for chart, s in spills.items() if s} == {}
