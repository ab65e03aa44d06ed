"""Tables in rendered reviews: whole sentences, escaped text, no meaningless row index; names,
labels and units for readers."""

import pandas as pd
import pytest

import goodpractice as gp
from goodpractice.classify import OVERALL, classify
from goodpractice.reviews.readers import (
    OVERALL_WORDS,
    adverse_on_every_indicator,
    axis_label,
    mark_units,
    readable,
    resident_rate_caveat,
)
from goodpractice.reviews.tables import format_number, table_html


def test_reasons_are_whole_and_text_is_escaped():
    reason = "Poor: robbery " + "per 1,000 residents " * 10 + "<script>alert(1)</script>"
    df = pd.DataFrame({"unit": ["westminster"], "z": [5.653679], "reason": [reason]}, index=[287])
    page = table_html(df)
    assert "per 1,000 residents " * 10 in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert ">287<" not in page
    assert ">5.65<" in page


def test_a_named_index_is_kept():
    df = pd.DataFrame({"category": ["top"], "n": [3]}, index=pd.Index(["crime_total"],
                                                                      name="indicator"))
    assert ">crime_total<" in table_html(df)


def test_numbers_read_at_a_glance():
    assert format_number(48900.0) == "48,900"
    assert format_number(5.653679) == "5.65"
    assert format_number(0.000123) == "0.000123"
    assert format_number(float("nan")) == "–"


# -- words for readers (goodpractice.reviews.readers), on the embedded real panels ---------------
@pytest.fixture(scope="module")
def london():
    return gp.load_example("london")


def test_tables_show_names_labels_and_words(london):
    df = pd.DataFrame({"unit": ["westminster", "camden", "nowhere"],
                       "indicator": ["crime_total", OVERALL, "crime_total"],
                       "peer_best_quartile": [1.0, 2.0, 3.0]})
    out = readable(df, london)
    assert list(out.columns) == ["Unit", "Indicator", "Peer best quartile"]
    assert out["Unit"].tolist() == ["Westminster", "Camden", "nowhere"]  # unknown ids kept
    assert out["Indicator"].iloc[0] == "Total recorded crime (excl. fraud) per 1,000 residents " \
                                       "(month)"
    assert out["Indicator"].iloc[1] == OVERALL_WORDS
    assert "__overall__" not in table_html(out)
    assert readable(df, london, ["unit"]).columns.tolist() == ["Unit"]
    stats = pd.DataFrame({"z": [1.0], "ci_low": [0.1], "p": [0.5], "n_adverse": [2]})
    assert readable(stats, london).columns.tolist() == ["z", "95% CI low", "p",
                                                       "Adverse comparators"]
    pivot = df.set_index("indicator")[["peer_best_quartile"]]
    assert OVERALL_WORDS in readable(pivot, london).index


def test_axes_carry_the_unit_of_the_rate():
    assert axis_label(gp.load_example("london"), "crime_total") == "per 1,000 residents (month)"
    forces = gp.load_example("forces")
    assert axis_label(forces, "crime_severity") == "per 1,000 population"
    assert axis_label(forces, "victim_satisfaction") == "%"


def test_the_per_resident_caveat_names_whom_it_concerns(london):
    table = classify(london, period="2023-12")
    everywhere = adverse_on_every_indicator(table)
    # Westminster's visitors make it poor on every per-resident rate (README, docs).
    assert "westminster" in everywhere
    per = table[(table["indicator"] != OVERALL) & table["unit"].isin(everywhere)]
    assert (per["category"] == "poor").all()
    text = resident_rate_caveat(london, everywhere)
    assert "per resident" in text and "**Westminster" in text
    only_shares = gp.from_frames(
        units=london.units, outcomes=london.outcomes.query("indicator == 'crime_total'"),
        indicators=london.indicators.query("indicator == 'crime_total'")
        .assign(label="Share solved, %", kind="proportion", multiplier=100.0))
    assert resident_rate_caveat(only_shares, ["westminster"]) == ""


def test_mark_units_names_them_on_the_funnel(london):
    from goodpractice.funnel import funnel
    from goodpractice.plots import funnel_plot

    rates = london.rates("crime_total").query("period == '2023-12'")
    df = funnel(rates, kind="rate", multiplier=1000)
    chart = mark_units(funnel_plot(df), df, ["camden", "sutton"], london)
    marked = chart.data(len(chart.spec["layer"]) - 1).to_dict("records")
    assert {m["name"] for m in marked} == {"Camden", "Sutton"}
    camden = df.set_index("unit").loc["camden"]
    ring = next(m for m in marked if m["name"] == "Camden")
    assert ring["x"] == pytest.approx(camden["denominator"], rel=1e-9)
    assert ring["y"] == pytest.approx(camden["value"], rel=1e-9)


def test_cells_are_left_aligned_over_the_lab_template():
    page = table_html(pd.DataFrame({"a": ["x"]}))
    assert "text-align: left !important" in page


def test_index_verdicts_read_as_words():
    from goodpractice.reviews.render import _verdict_text

    one = [{"unit": "durham", "indicator": "crime_total", "verdict": "typical"},
           {"unit": "durham", "indicator": "__overall__", "verdict": "top"}]
    assert _verdict_text(one) == "crime_total: typical; overall: top"
    many = [{"unit": "gwent", "indicator": "__overall__", "verdict": "coasting"},
            {"unit": "dyfed_powys", "indicator": "__overall__", "verdict": "top"}]
    assert _verdict_text(many) == "gwent overall: coasting; dyfed_powys overall: top"
