"""Tests on the shipped example panels (goodpractice/examples/forces and london).

Spot values were read by hand from the raw source files in ../shared/data (file and row cited
next to each); they are not produced by scripts/build_examples.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from goodpractice.panel import load_example, read_panel

EX = Path(__file__).resolve().parents[1] / "goodpractice" / "examples"
FORCES, LONDON = EX / "forces", EX / "london"
WELSH = {"dyfed_powys", "gwent", "north_wales", "south_wales"}


def _csv(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, keep_default_na=True)


@pytest.fixture(scope="module")
def forces_outcomes() -> pd.DataFrame:
    return _csv(FORCES, "outcomes.csv").set_index(["unit", "period", "indicator"])


@pytest.fixture(scope="module")
def forces_resources() -> pd.DataFrame:
    return _csv(FORCES, "resources.csv").set_index(["unit", "period", "element", "measure"])


@pytest.fixture(scope="module")
def london_outcomes() -> pd.DataFrame:
    return _csv(LONDON, "outcomes.csv").set_index(["unit", "period", "indicator"])


def test_forces_shapes_and_keys():
    units = _csv(FORCES, "units.csv")
    assert len(units) == 43 and units["unit"].is_unique
    assert set(units["level"]) == {"force"}
    assert {"metropolitan", "city_of_london", "dyfed_powys", "avon_and_somerset"} <= set(units.unit)
    res = _csv(FORCES, "resources.csv")
    assert not res.duplicated(["unit", "period", "element", "measure"]).any()
    assert (res["value"] >= 0).all()
    poa = res[res.measure.isin(["fte", "spend_gbp"])]
    assert sorted(poa.period.unique()) == ["2013-14", "2014-15", "2015-16", "2016-17", "2017-18"]
    # a balanced panel: every force x year x element x measure present
    assert len(poa) == 43 * 5 * poa.element.nunique() * 2
    elements = set(yaml.safe_load((FORCES / "policing_model.yaml").read_text())["elements"])
    assert set(res.element) <= elements
    out = _csv(FORCES, "outcomes.csv")
    assert not out.duplicated(["unit", "period", "indicator"]).any()
    assert set(out.unit) == set(units.unit)
    assert set(out.indicator) <= set(_csv(FORCES, "indicators.csv").indicator)
    assert out.period.min() == "2002-03"  # crime severity score from YE March 2003
    crime = out[out.indicator == "crime_total"]
    assert crime.groupby("period").unit.nunique().eq(43).all()


def test_london_shapes_and_keys():
    units = _csv(LONDON, "units.csv")
    assert len(units) == 32 and units["unit"].is_unique
    assert "city_of_london" not in set(units.unit)
    assert not units["unit"].str.contains("airport").any()
    assert set(units.parent) == {"Inner London", "Outer London"}
    assert units[["population", "imd_score", "area_km2", "pct_bame"]].notna().all().all()
    out = _csv(LONDON, "outcomes.csv")
    assert not out.duplicated(["unit", "period", "indicator"]).any()
    periods = sorted(out.period.unique())
    assert periods[0] == "2010-04" and periods[-1] == "2024-01" and len(periods) == 166
    assert out.groupby("indicator").size().eq(32 * 166).all()
    assert not (LONDON / "resources.csv").exists()
    readme = (LONDON / "README-resources.md").read_text()
    assert "unit,period,element,measure,value" in readme


@pytest.mark.parametrize("folder", [FORCES, LONDON])
def test_proportions_counts_and_denominators(folder):
    out = _csv(folder, "outcomes.csv").merge(_csv(folder, "indicators.csv"), on="indicator")
    assert (out.denominator > 0).all()
    prop = out[out.kind == "proportion"]
    assert (prop.numerator <= prop.denominator).all()
    assert (prop.numerator / prop.denominator <= 1).all()
    # every numerator is a whole count except the severity score (a weighted score by design)
    counts = out[out.indicator != "crime_severity"]
    assert (counts.numerator == counts.numerator.round()).all()
    assert (out.numerator >= 0).all()


def test_two_outcome_frameworks_never_share_an_indicator():
    out = _csv(FORCES, "outcomes.csv")
    sd = out[out.indicator == "sanction_detection_rate"].period
    ch = out[out.indicator == "charge_rate"].period
    assert sorted(sd.unique()) == ["2009-10", "2010-11", "2011-12", "2012-13", "2013-14"]
    assert sorted(ch.unique()) == ["2017-18", "2018-19"]


def test_welsh_forces_have_no_imd_and_english_forces_do():
    units = _csv(FORCES, "units.csv").set_index("unit")
    assert units.loc[sorted(WELSH), "imd_score"].isna().all()
    assert units.drop(index=sorted(WELSH))["imd_score"].notna().all()


def test_poa_investigations_fte_matches_raw(forces_resources):
    # raw/poa-data-2013.xlsx, row 18 "TOTAL Investigations", column Avon & Somerset:
    # Officers_FTE 648.36, Staff_FTE 223.74, PCSO_FTE 0.
    v = forces_resources.loc[("avon_and_somerset", "2013-14", "investigations", "fte"), "value"]
    assert v == pytest.approx(648.36 + 223.74 + 0, abs=0.01)


def test_poa_2017_18_local_investigation_moved_back(forces_resources):
    # poa_by_force_function_long.csv, Metropolitan Police 2017/18 officers_fte: Investigations
    # group total 1,886.7, Public Protection total 2,820.8, Local Policing sub-row
    # "Local Investigation/ prisoner processing" 2,421.2 (HMICFRS filed it under Local Policing).
    # The element must hold all three for officers; staff and PCSOs add to it, so >= the sum.
    v = forces_resources.loc[("metropolitan", "2017-18", "investigations", "fte"), "value"]
    assert v >= 1886.7 + 2820.8 + 2421.2 - 0.1


def test_recorded_burglary_matches_raw(forces_outcomes):
    # rec-crime-pfa.csv rows 31644 and 31648: 31-03-2015, Avon and Somerset, Domestic burglary
    # 4,377 and Non-domestic burglary 6,396. Population: ADR 2015 workbook (mid-2014) 1,645.814k.
    row = forces_outcomes.loc[("avon_and_somerset", "2014-15", "crime_burglary")]
    assert row.numerator == 4377 + 6396
    assert row.denominator == 1645814


def test_charge_count_matches_source(forces_outcomes):
    # home_office_crime_outcomes_force/SOURCE.md: charge counts Avon and Somerset 12,120
    # (2017/18) and 12,013 (2018/19), outcome type 1 for offences recorded in the year.
    assert forces_outcomes.loc[("avon_and_somerset", "2017-18", "charge_rate")].numerator == 12120
    assert forces_outcomes.loc[("avon_and_somerset", "2018-19", "charge_rate")].numerator == 12013


def test_sanction_detections_match_raw(forces_outcomes):
    # raw/adr-data-2013.xlsx sheet Snapshot_SD row 4 (block 2012/13): Avon & Somerset,
    # Total (Crimes) excl. Fraud 31,134; sheet Snapshot_crime same block: 96,964.
    row = forces_outcomes.loc[("avon_and_somerset", "2012-13", "sanction_detection_rate")]
    assert (row.numerator, row.denominator) == (31134, 96964)


def test_victim_satisfaction_reproduces_published_percentage(forces_outcomes):
    # adr-data-2013.xlsx sheet Victims_of_crime_survey: Avon and Somerset % Satisfied 0.867023.
    row = forces_outcomes.loc[("avon_and_somerset", "2012-13", "victim_satisfaction")]
    assert row.numerator / row.denominator == pytest.approx(0.867023, abs=5e-4)


def test_crime_severity_reproduces_published_score(forces_outcomes):
    # css_pfa_offencegroup_ye2003_2022.csv row 914: Total recorded crime, E23000036 Avon and
    # Somerset, "Apr '14 to Mar '15", severity score 8.35388565 (numerator is score x pop / 1000).
    row = forces_outcomes.loc[("avon_and_somerset", "2014-15", "crime_severity")]
    assert row.numerator / row.denominator * 1000 == pytest.approx(8.3538856478, abs=1e-5)


def test_durham_imd_is_population_weighted():
    # IoD2019 File 10, sheet IMD: County Durham E06000047 average score 26.793, Darlington
    # E06000005 25.657; 2011 Census residents 513,242 and 105,564 (la_census2011 file rows 3, 2).
    units = _csv(FORCES, "units.csv").set_index("unit")
    expected = (26.793 * 513242 + 25.657 * 105564) / (513242 + 105564)
    assert units.loc["durham", "imd_score"] == pytest.approx(expected, abs=1e-3)


def test_borough_counts_match_raw(london_outcomes):
    # MPS_Borough_Level_Crime_Historical_201004-202201.csv rows 4-5: Barking and Dagenham,
    # Burglary Business and Community 49 + Domestic Burglary 118 in column 201004.
    assert london_outcomes.loc[("barking_and_dagenham", "2010-04", "crime_burglary")].numerator == 167
    # MPS_Borough_Level_Crime_recent24m_202202-202401.csv rows 1561-1562, column 202401:
    # Westminster robbery of business property 16 + personal property 308.
    assert london_outcomes.loc[("westminster", "2024-01", "crime_robbery")].numerator == 324
    # london-borough-profiles.csv row 3: Barking and Dagenham GLA population 2017 = 209,000.
    assert london_outcomes.loc[("barking_and_dagenham", "2010-04", "crime_burglary")].denominator \
        == 209000


def test_london_units_context_matches_raw():
    units = _csv(LONDON, "units.csv").set_index("unit")
    # IoD2019 File 10, sheet IMD, E09000002 Barking and Dagenham: average score 32.768.
    assert units.loc["barking_and_dagenham", "imd_score"] == pytest.approx(32.768)
    # london-borough-profiles.csv row 3: inland area 3,611 ha = 36.11 km2.
    assert units.loc["barking_and_dagenham", "area_km2"] == pytest.approx(36.11)


def test_london_total_is_sum_of_groups(london_outcomes):
    df = london_outcomes.reset_index()
    tot = df[df.indicator == "crime_total"].set_index(["unit", "period"]).numerator
    parts = df[df.indicator != "crime_total"].groupby(["unit", "period"]).numerator.sum()
    assert (tot == parts.loc[tot.index]).all()


def test_policing_models_are_the_same():
    f = yaml.safe_load((FORCES / "policing_model.yaml").read_text())
    g = yaml.safe_load((LONDON / "policing_model.yaml").read_text())
    assert f == g
    inv = f["elements"]["investigations"]
    assert "Public Protection" in inv["functions"] and "2017-18" in inv["description"]


def test_provenance_lists_licence_and_sources():
    for folder in (FORCES, LONDON):
        text = (folder / "PROVENANCE.md").read_text()
        assert "Open Government Licence v3.0" in text
        assert "commit" in text.lower()


def test_extras_are_tidy():
    s = _csv(LONDON / "extras", "mps_strength.csv")
    assert set(s.measure) == {"officers", "staff", "pcso"}
    assert not s.duplicated(["period", "measure"]).any()
    # Police_Force_Strength.csv row 2: May-13 officers 30,636.
    assert s[(s.period == "2013-05") & (s.measure == "officers")].fte.iloc[0] == 30636
    p = _csv(LONDON / "extras", "pas_confidence.csv")
    assert p.period.str.match(r"\d{4}-Q[1-4]$").all()
    assert p.pct_agree.between(0, 100).all()


@pytest.mark.parametrize("name,n_units,freq", [("forces", 43, "annual"),
                                                ("london", 32, "monthly")])
def test_read_panel_and_load_example(name, n_units, freq):
    panel = read_panel(EX / name)
    assert len(panel.units) == n_units and panel.frequency == freq
    rates = panel.rates()
    assert rates["rate"].notna().all()
    loaded = load_example(name)
    assert loaded.vintage == panel.vintage
    if name == "forces":
        assert {"fte", "spend_gbp", "officer_fte"} <= set(panel.resources.measure)
    else:
        assert panel.resources.empty
