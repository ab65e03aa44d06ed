"""targets(): the 2001/02 plan's SMART targets evaluated on small panels whose answers are hand-made."""

import numpy as np
import pandas as pd
import pytest

from goodpractice.errors import GoodPracticeError
from goodpractice.panel import from_frames, load_example
from goodpractice.targets import STATUSES, make_targets, targets

INDICATORS = pd.DataFrame([
    {"indicator": "street_crime", "label": "Street crime", "kind": "rate",
     "higher_is_better": False, "multiplier": 1000},
    {"indicator": "judicial_disposal", "label": "Judicial disposal rate", "kind": "proportion",
     "higher_is_better": True, "multiplier": 100},
])
UNITS = pd.DataFrame({"unit": ["camden", "hackney"], "name": ["Camden", "Hackney"],
                      "level": "borough", "parent": "", "population": [100000, 100000]})


def annual_panel():
    rows = [
        # street crime: 10 per 1,000 in 2000-01; Camden down 6%, Hackney down 2%
        ("camden", "2000-01", "street_crime", 1000, 100000),
        ("camden", "2001-02", "street_crime", 940, 100000),
        ("hackney", "2000-01", "street_crime", 1000, 100000),
        ("hackney", "2001-02", "street_crime", 980, 100000),
        # judicial disposals: 12% and 8% of street crimes
        ("camden", "2001-02", "judicial_disposal", 120, 1000),
        ("hackney", "2001-02", "judicial_disposal", 80, 1000),
    ]
    out = pd.DataFrame(rows, columns=["unit", "period", "indicator", "numerator", "denominator"])
    return from_frames(units=UNITS, outcomes=out, indicators=INDICATORS)


PLAN = make_targets([
    {"indicator": "street_crime", "period": "2001-02", "kind": "reduce_by_pct", "value": 5,
     "baseline_period": "2000-01", "source": "MPA 2001/02 plan: reduce street crime by 5 per cent"},
    {"indicator": "judicial_disposal", "period": "2001-02", "kind": "at_least", "value": 10,
     "source": "MPA 2001/02 plan: achieve a judicial disposal rate of 10 per cent"},
])


def test_reduce_street_crime_by_five_per_cent():
    got = targets(annual_panel(), table=PLAN, indicator="street_crime").set_index("unit")
    assert list(got.index) == ["camden", "hackney", "national"]
    assert got.loc["camden", "baseline"] == pytest.approx(10.0)
    assert got.loc["camden", "target_level"] == pytest.approx(9.5)
    assert got.loc["camden", "current"] == pytest.approx(9.4)
    assert got.loc["camden", "progress"] == pytest.approx((9.4 - 10) / (9.5 - 10))
    assert got.loc["camden", "status"] == "met"
    assert got.loc["hackney", "status"] == "off_track"
    # National: pooled (940 + 980) / 200,000 = 9.6 per 1,000 > 9.5.
    assert got.loc["national", "current"] == pytest.approx(9.6)
    assert got.loc["national", "status"] == "off_track"
    assert set(got["status"]) <= set(STATUSES)


def test_judicial_disposal_rate_of_ten_per_cent():
    got = targets(annual_panel(), table=PLAN, indicator="judicial_disposal").set_index("unit")
    assert got.loc["camden", "current"] == pytest.approx(12.0)
    assert got.loc["camden", "status"] == "met"
    assert got.loc["hackney", "status"] == "off_track"
    assert got.loc["national", "current"] == pytest.approx(10.0) and got.loc["national", "status"] == "met"
    # No baseline period: progress is measured from the year before, which has no data here.
    assert got["baseline"].isna().all() and got["progress"].isna().all()


def test_projection_within_a_financial_year_on_monthly_data():
    # Camden's monthly rate falls by 0.02 per 1,000 a month from 1.0 in April 2001; six months known.
    months = [f"2001-{m:02d}" for m in range(4, 10)]
    base = [f"{y}-{m:02d}" for y, m in [(2000, k) for k in range(4, 13)] + [(2001, k) for k in (1, 2, 3)]]
    rows = [("camden", p, "street_crime", 100, 100000) for p in base]
    rows += [("camden", p, "street_crime", round(100 - 2 * k), 100000) for k, p in enumerate(months)]
    rows += [("hackney", p, "street_crime", 100, 100000) for p in base + months]
    out = pd.DataFrame(rows, columns=["unit", "period", "indicator", "numerator", "denominator"])
    panel = from_frames(units=UNITS, outcomes=out, indicators=INDICATORS.head(1))
    plan = make_targets([{"indicator": "street_crime", "period": "FY2001-02",
                          "kind": "reduce_by_pct", "value": 5, "baseline_period": "FY2000-01"}])
    got = targets(panel, table=plan, scope="units").set_index("unit")
    cam = got.loc["camden"]
    assert cam["baseline"] == pytest.approx(1.0) and cam["target_level"] == pytest.approx(0.95)
    assert cam["current"] == pytest.approx(np.mean([1.0 - 0.02 * k for k in range(6)]))
    # Linear trend to March 2002: the mean of the line over the twelve months.
    assert cam["projected"] == pytest.approx(np.mean([1.0 - 0.02 * k for k in range(12)]))
    assert cam["status"] == "on_track" and got.loc["hackney", "status"] == "off_track"
    assert "2002-03" in cam["reason"]


def test_no_baseline_and_no_data():
    plan = make_targets([
        {"indicator": "street_crime", "period": "2001-02", "kind": "reduce_by_pct", "value": 5,
         "baseline_period": "1999-00"},
        {"indicator": "judicial_disposal", "period": "2005-06", "kind": "at_least", "value": 10},
    ])
    got = targets(annual_panel(), table=plan, scope="national", period="2000-01")
    assert list(got["status"]) == ["no_baseline", "no_data"]
    assert "1999-00" in got["reason"].iloc[0]


def test_forces_example_charge_rate_targets():
    panel = load_example("forces")
    got = targets(panel, indicator="charge_rate", scope="units")
    assert len(got) == 2 * 43
    done = got[got["status"].isin(["met", "off_track"])]
    assert ((done["current"] >= 10) == (done["status"] == "met")).all()


def test_malformed_targets_are_errors():
    with pytest.raises(GoodPracticeError, match="needs a baseline_period"):
        make_targets([{"indicator": "street_crime", "period": "2001-02", "kind": "reduce_by_pct",
                       "value": 5}])
    with pytest.raises(GoodPracticeError, match="kind 'increase'"):
        make_targets([{"indicator": "street_crime", "period": "2001-02", "kind": "increase",
                       "value": 5}])
    with pytest.raises(GoodPracticeError, match="not a number"):
        make_targets([{"indicator": "street_crime", "period": "2001-02", "kind": "at_most",
                       "value": "ten"}])
    with pytest.raises(GoodPracticeError, match="unknown keys"):
        make_targets([{"indicator": "x", "period": "2001-02", "kind": "at_most", "value": 1,
                       "owner": "me"}])
    bad_unit = make_targets([{"indicator": "street_crime", "unit": "brent", "period": "2001-02",
                              "kind": "at_most", "value": 9}])
    with pytest.raises(GoodPracticeError, match="'brent' is not in the panel"):
        targets(annual_panel(), table=bad_unit)
    with pytest.raises(GoodPracticeError, match="scope"):
        targets(annual_panel(), table=PLAN, scope="region")
    # A misspelt indicator or period is an error, not an empty table or a silent misreading.
    with pytest.raises(GoodPracticeError, match="unknown indicator 'street_crimes'"):
        targets(annual_panel(), table=PLAN, indicator="street_crimes")
    with pytest.raises(GoodPracticeError, match="period '2001/02'.*write '2001-02'"):
        targets(annual_panel(), "2001/02", table=PLAN)


def test_projection_before_the_target_period_is_the_trend_alone():
    # A straight line, 10, 9, 8, 7 per 1,000 in 2000-01..2003-04; the target is for 2005-06.
    # As of 2003-04 the linear trend reaches 5 per 1,000 in 2005-06 - the projection must be that
    # value, not a blend with the latest observed year (7), and a later year's data (2004-05,
    # observed after the as-of period) must not enter it.
    rows = [("camden", f"{y}-{(y + 1) % 100:02d}", "street_crime", n, 100000)
            for y, n in ((2000, 1000), (2001, 900), (2002, 800), (2003, 700), (2004, 100))]
    out = pd.DataFrame(rows, columns=["unit", "period", "indicator", "numerator", "denominator"])
    panel = from_frames(units=UNITS.iloc[:1], outcomes=out, indicators=INDICATORS)
    plan = make_targets([{"indicator": "street_crime", "period": "2005-06",
                          "kind": "at_most", "value": 6}])
    got = targets(panel, "2003-04", table=plan, scope="units").iloc[0]
    assert got["current"] == pytest.approx(7.0)
    assert got["projected"] == pytest.approx(5.0)
    assert got["status"] == "on_track"


def test_every_unit_of_the_london_example_against_a_direct_computation():
    # targets() evaluates each target for 32 boroughs and London from per-unit sums it builds
    # once per indicator; here each figure is recomputed from the panel's own rates with pandas:
    # the unit's (or London's) numerator over denominator in the target month and in the
    # baseline month, and the status that follows.
    panel = load_example("london")
    got = targets(panel)
    assert len(got) == len(panel.targets) * (len(panel.units) + 1)
    for (indicator, target_period), part in got.groupby(["indicator", "target_period"]):
        spec = panel.targets[(panel.targets["indicator"] == indicator)
                             & (panel.targets["period"] == target_period)].iloc[0]
        rates = panel.rates(indicator)
        mult = float(panel.indicator(indicator)["multiplier"])

        def rate(period, rates=rates, mult=mult):
            month = rates[rates["period"] == period]
            per_unit = month.set_index("unit")["numerator"] / month.set_index("unit")["denominator"]
            national = month["numerator"].sum() / month["denominator"].sum()
            return pd.concat([per_unit, pd.Series({"national": national})]) * mult

        current, baseline = rate(target_period), rate(spec["baseline_period"])
        level = baseline * (1 - spec["value"] / 100)
        part = part.set_index("unit")
        np.testing.assert_allclose(part["current"], current[part.index], rtol=1e-12)
        np.testing.assert_allclose(part["baseline"], baseline[part.index], rtol=1e-12)
        expected = np.where(current[part.index] <= level[part.index], "met", "off_track")
        assert list(part["status"]) == list(expected)
