"""Charts: each function returns a Vega-Lite chart with the expected title, axes, legend and
marks; the Vega-Lite compiler and renderer (vl-convert, the Vega project's own) accept every
chart a review draws, and what they draw carries the chart's words."""

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

import goodpractice as gp
from goodpractice.compare import compare
from goodpractice.errors import GoodPracticeError
from goodpractice.funnel import funnel, funnel_curve
from goodpractice.plots import (VEGALITE_MIME, VEGALITE_VERSION, Chart, funnel_plot, peer_bars,
                                spc_chart)
from goodpractice.spc import xmr


@pytest.fixture(scope="module")
def london():
    return gp.load_example("london")


def svg(chart: Chart) -> str:
    """The chart as the Vega renderer draws it (compiling fails on an invalid specification).
    The specification must also compile with Vega-Lite 5, which JupyterLab uses."""
    vlc.vegalite_to_vega(chart.spec, vl_version="5.20")
    return vlc.vegalite_to_svg(chart.spec, vl_version=VEGALITE_VERSION)


def layer(chart: Chart, mark: str, n: int = 0) -> dict:
    found = [lay for lay in chart.spec["layer"]
             if (lay["mark"]["type"] if isinstance(lay["mark"], dict) else lay["mark"]) == mark]
    return found[n]


def rows(chart: Chart, mark: str, n: int = 0) -> list[dict]:
    """The data rows of a chart's `n`-th layer of this mark."""
    index = chart.spec["layer"].index(layer(chart, mark, n))
    return chart.data(index).to_dict("records")


def legend_labels(chart: Chart) -> list[str]:
    out = []
    for lay in chart.spec["layer"]:
        colour = lay["encoding"].get("color", {})
        if colour.get("legend", {}) is not None and "scale" in colour:
            out += colour["scale"]["domain"]
    return out


def drawn_texts(picture: str) -> set[str]:
    return {t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", picture)}


def test_funnel_plot(london):
    r = london.rates("crime_burglary")
    cur = r[r["period"] == "2024-01"][["unit", "numerator", "denominator"]]
    f = funnel(cur, kind="rate", multiplier=1000)
    chart = funnel_plot(f)
    assert isinstance(chart, Chart)
    assert chart.spec["title"]["text"].startswith("Funnel plot (rate; over-dispersion: additive")
    points = layer(chart, "circle")
    assert points["encoding"]["x"]["title"] == "Exposure (denominator)"
    assert points["encoding"]["y"]["title"] == "Value (x 1000)"
    assert len(rows(chart, "circle")) == len(f) == 32
    legend = legend_labels(chart)
    assert "95% limits" in legend and "99.8% limits" in legend
    named = {row["unit"] for row in rows(chart, "text")}
    assert named == set(f.loc[f["flag"] != "within", "unit"])
    # Every dot names its unit on hover.
    assert {"field": "unit", "title": "Unit"} in points["encoding"]["tooltip"]

    picture = svg(chart)
    assert named <= drawn_texts(picture)
    assert {"Exposure (denominator)", "Value (x 1000)", "95% limits"} <= drawn_texts(picture)
    # The description survives compilation (the browser makes it the drawing's aria-label).
    compiled = vlc.vegalite_to_vega(chart.spec, vl_version=VEGALITE_VERSION)
    assert compiled["description"] == chart.alt_text()
    assert chart.alt_text() == ("Chart: " + chart.spec["title"]["text"]
                                + " (Value (x 1000) against Exposure (denominator))")


def test_funnel_limits_are_the_curves_thinned(london):
    r = london.rates("crime_burglary")
    f = funnel(r[r["period"] == "2024-01"], kind="rate", multiplier=1000)
    curves = funnel_curve(f)  # 200 points
    limits = rows(funnel_plot(f, curves=curves), "line")
    assert len(limits) == 80
    assert limits[0]["denominator"] == pytest.approx(curves["denominator"].iloc[0])
    assert limits[-1]["upper_998"] == pytest.approx(curves["upper_998"].iloc[-1])
    # Each row is one of the curve's own points (to the 10 digits written), limits included.
    for row in limits:
        near = curves[np.isclose(curves["denominator"], row["denominator"], rtol=1e-9)]
        assert len(near) == 1
        for col in ("target", "lower_95", "upper_95", "lower_998", "upper_998"):
            assert row[col] == pytest.approx(near[col].iloc[0], rel=1e-9)


def test_spc_chart(london):
    r = london.rates("crime_burglary")
    s = r[r["unit"] == "camden"].sort_values("period").tail(36).set_index("period")["rate"]
    data = xmr(s, improvement="decrease", target=0.5)
    chart = spc_chart(data, title="Camden burglary", ylabel="Burglaries per 1,000")
    assert chart.spec["title"]["text"] == "Camden burglary"
    points = layer(chart, "circle")
    assert points["encoding"]["y"]["title"] == "Burglaries per 1,000"
    assert len(rows(chart, "circle")) == 36
    legend = " ".join(legend_labels(chart))
    assert "Process limits" in legend and "Target (0.5)" in legend
    default = spc_chart(data).spec["title"]["text"]
    assert default == f"XmR chart (assurance: {data.attrs['assurance'].replace('_', ' ')})"
    # Each point's colour is its variation, counted in the legend.
    counts = data["variation"].value_counts()
    for v, n in counts.items():
        assert any(label.endswith(f"({n})") and (v in label or v == "common")
                   for label in points["encoding"]["color"]["scale"]["domain"])
    picture = svg(chart)
    assert {"Camden burglary", "Burglaries per 1,000", "Process limits"} <= drawn_texts(picture)


def test_peer_bars(london):
    c = compare(london, "crime_burglary", "2024-01")
    chart = peer_bars(c, unit="camden", xlabel="Burglaries per 1,000")
    bars = rows(chart, "bar")
    peers = c.set_index("unit").loc["camden", "peers"].split(", ")
    assert {b["unit"] for b in bars} == {"camden", *peers}
    assert [b["unit"] for b in bars if b["this_unit"]] == ["camden"]
    assert chart.spec["title"]["text"] == "camden and its most similar peers - crime_burglary, 2024-01"
    legend = " ".join(legend_labels(chart))
    assert "peer average" in legend and "National average" in legend
    everyone = peer_bars(c)
    assert len(rows(everyone, "bar")) == 32
    picture = svg(chart)
    assert {"camden", *peers} <= drawn_texts(picture)


def test_peer_bars_accepts_a_series():
    s = pd.Series(np.arange(5.0), index=list("abcde"))
    chart = peer_bars(s, title="Values")
    assert chart.spec["title"]["text"] == "Values"
    assert [b["unit"] for b in rows(chart, "bar")] == list("edcba")
    assert set("abcde") <= drawn_texts(svg(chart))


def test_plots_refuse_the_wrong_table():
    with pytest.raises(GoodPracticeError, match="funnel_plot needs columns"):
        funnel_plot(pd.DataFrame({"unit": ["a"]}))
    with pytest.raises(GoodPracticeError, match="spc_chart needs columns"):
        spc_chart(pd.DataFrame({"value": [1.0]}))


def test_charts_show_in_jupyter_with_their_description_as_text():
    from IPython.core.formatters import DisplayFormatter

    chart = spc_chart(xmr([5, 6, 5, 7, 6, 5, 8, 6, 5, 6]), title="Test")
    data, _ = DisplayFormatter().format(chart)
    assert data[VEGALITE_MIME]["title"]["text"] == "Test"
    assert data["text/plain"].startswith("Chart: Test (Value against Period)")
    json.dumps(data[VEGALITE_MIME], allow_nan=False)  # strict JSON: no NaN in a notebook


def test_long_titles_wrap_and_missing_values_are_null():
    s = pd.Series([1.0, np.nan, 3.0, 2.0], index=list("abcd"))
    chart = peer_bars(s, title="word " * 40)
    assert isinstance(chart.spec["title"]["text"], list) and len(chart.spec["title"]["text"]) == 3
    assert np.isnan([b["value"] for b in rows(chart, "bar")][-1])
    # Vega reads the empty cell as null: the bar is not drawn, the other three are.
    assert svg(chart).count('aria-roledescription="bar"') == 3


def test_layer_data_reads_back_with_pandas_csv_reader():
    from goodpractice.plots import _data

    df = pd.DataFrame({
        "unit": ["a,b", 'say "hi"', None, "line\nbreak"],
        "value": [1.25, np.inf, np.nan, -3e-12],
        "count": pd.array([1, None, 3, 4], dtype="Int64"),
        "flag": [True, False, True, False],
        "maybe": pd.array([True, None, False, True], dtype="boolean"),
    })
    data = _data(df)
    assert data["format"]["parse"] == {"unit": "string", "value": "number", "count": "number",
                                       "flag": "number", "maybe": "number"}
    back = pd.read_csv(io.StringIO(data["values"]), keep_default_na=False, na_values=[""])
    assert back["unit"].tolist()[:2] == ["a,b", 'say "hi"'] and back["unit"].iloc[3] == "line\nbreak"
    assert pd.isna(back["unit"].iloc[2])  # missing text is an empty cell (null), not "None"
    assert back["value"].iloc[0] == 1.25 and back["value"].iloc[3] == -3e-12
    assert back["value"].iloc[1:3].isna().all()  # infinity and NaN: null
    assert back["count"].isna().tolist() == [False, True, False, False]
    assert back["flag"].tolist() == [1, 0, 1, 0]
    assert back["maybe"].isna().tolist() == [False, True, False, False]


def test_save_writes_each_format(tmp_path):
    chart = spc_chart(xmr([5, 6, 5, 7, 6, 5, 8, 6, 5, 6]), title="Saved")
    assert json.loads(chart.save(tmp_path / "c.json").read_text())["title"]["text"] == "Saved"
    assert chart.save(tmp_path / "c.png", scale=1).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Saved" in chart.save(tmp_path / "c.svg").read_text()
    page = chart.save(tmp_path / "c.html").read_text()
    assert "Saved" in page and "<script" in page and "cdn.jsdelivr" not in page
    with pytest.raises(GoodPracticeError, match=r"cannot save a chart as 'c\.gif'"):
        chart.save(tmp_path / "c.gif")


@pytest.mark.parametrize("dataset", ["forces", "london"])
def test_every_review_chart_compiles_and_draws(dataset):
    # Every kind of chart a review draws, on every indicator of both example panels, with the
    # longest unit name marked: the Vega-Lite compiler accepts it and the renderer draws it.
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
        charts.append(mark_units(funnel_plot(f, curves=funnel_curve(f), ylabel=axis_label(panel, ind),
                                             title=f"{spec['label']}, {period}"), f, [longest], panel))
        series = rates[(rates["unit"] == longest) & (rates["period"] <= period)]
        if len(series) >= 3:
            charts.append(spc_chart(xmr(series.set_index("period")["rate"].sort_index()),
                                    title=f"{names[longest]}: {spec['label']}",
                                    ylabel=spec["label"]))
        charts.append(peer_bars(comparison[comparison["indicator"] == ind], unit=longest,
                                title=spec["label"]))
    assert len(charts) >= 2 * len(indicators)
    for chart in charts:
        picture = svg(chart)
        assert picture.startswith("<svg") and "<text" in picture
    assert names[longest] in drawn_texts(svg(charts[0]))


def test_charts_show_names_instead_of_ids(london):
    from goodpractice.reviews.readers import unit_names

    names = unit_names(london)
    c = compare(london, "crime_burglary", "2024-01")
    bars = peer_bars(c, unit="kensington_and_chelsea", names=names)
    shown = {b["unit"] for b in rows(bars, "bar")}
    assert "Kensington and Chelsea" in shown and "kensington_and_chelsea" not in shown
    assert bars.spec["title"]["text"].startswith("Kensington and Chelsea and its most similar")
    assert any("Kensington and Chelsea's peer average" in label for label in legend_labels(bars))
    # The outlined bar is still the unit's own.
    assert [b["unit"] for b in rows(bars, "bar") if b["this_unit"]] == ["Kensington and Chelsea"]
    r = london.rates("crime_burglary")
    f = funnel(r[r["period"] == "2024-01"], kind="rate", multiplier=1000)
    chart = funnel_plot(f, names=names)
    assert {p["unit"] for p in rows(chart, "circle")} == set(names[u] for u in f["unit"])
    assert {t["unit"] for t in rows(chart, "text")} <= set(names.values())
    assert "Kensington and Chelsea" in drawn_texts(svg(bars))
