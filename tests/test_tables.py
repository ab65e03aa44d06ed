"""Tables in rendered reviews: whole sentences, escaped text, no meaningless row index."""

import pandas as pd

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
