"""Rebuild the embedded example panels (``forces`` and ``london``) from the raw open data.

Maintainer script, not part of the package: the package only reads the files this writes.

    python scripts/build_examples.py --source ../shared/data

Reads ``<source>/<folder>/...`` (see each folder's SOURCE.md) and writes
``goodpractice/examples/forces/`` and ``goodpractice/examples/london/`` (tidy CSV files in the
panel format of DESIGN.md section 3, a ``policing_model.yaml``, ``extras/`` and the fixed text
files ``PROVENANCE.md`` / ``README-resources.md`` kept beside this script's output).

Output is deterministic: rows are sorted on their keys and numbers are written with a fixed
format, so a rebuild from the same sources gives an identical git diff. Any source name that
cannot be mapped to a known unit stops the build with a message naming the file and the name.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "goodpractice" / "examples"


class BuildError(RuntimeError):
    """A source file did not look as SOURCE.md describes; the message says what and where."""


# ---------------------------------------------------------------------------------------------
# Forces: one explicit table of the 43 territorial forces (id, display name, region) ...
# ---------------------------------------------------------------------------------------------
FORCES: list[tuple[str, str, str]] = [
    ("avon_and_somerset", "Avon and Somerset", "South West"),
    ("bedfordshire", "Bedfordshire", "East of England"),
    ("cambridgeshire", "Cambridgeshire", "East of England"),
    ("cheshire", "Cheshire", "North West"),
    ("city_of_london", "City of London", "London"),
    ("cleveland", "Cleveland", "North East"),
    ("cumbria", "Cumbria", "North West"),
    ("derbyshire", "Derbyshire", "East Midlands"),
    ("devon_and_cornwall", "Devon and Cornwall", "South West"),
    ("dorset", "Dorset", "South West"),
    ("durham", "Durham", "North East"),
    ("dyfed_powys", "Dyfed-Powys", "Wales"),
    ("essex", "Essex", "East of England"),
    ("gloucestershire", "Gloucestershire", "South West"),
    ("greater_manchester", "Greater Manchester", "North West"),
    ("gwent", "Gwent", "Wales"),
    ("hampshire", "Hampshire", "South East"),
    ("hertfordshire", "Hertfordshire", "East of England"),
    ("humberside", "Humberside", "Yorkshire and The Humber"),
    ("kent", "Kent", "South East"),
    ("lancashire", "Lancashire", "North West"),
    ("leicestershire", "Leicestershire", "East Midlands"),
    ("lincolnshire", "Lincolnshire", "East Midlands"),
    ("merseyside", "Merseyside", "North West"),
    ("metropolitan", "Metropolitan Police", "London"),
    ("norfolk", "Norfolk", "East of England"),
    ("north_wales", "North Wales", "Wales"),
    ("north_yorkshire", "North Yorkshire", "Yorkshire and The Humber"),
    ("northamptonshire", "Northamptonshire", "East Midlands"),
    ("northumbria", "Northumbria", "North East"),
    ("nottinghamshire", "Nottinghamshire", "East Midlands"),
    ("south_wales", "South Wales", "Wales"),
    ("south_yorkshire", "South Yorkshire", "Yorkshire and The Humber"),
    ("staffordshire", "Staffordshire", "West Midlands"),
    ("suffolk", "Suffolk", "East of England"),
    ("surrey", "Surrey", "South East"),
    ("sussex", "Sussex", "South East"),
    ("thames_valley", "Thames Valley", "South East"),
    ("warwickshire", "Warwickshire", "West Midlands"),
    ("west_mercia", "West Mercia", "West Midlands"),
    ("west_midlands", "West Midlands", "West Midlands"),
    ("west_yorkshire", "West Yorkshire", "Yorkshire and The Humber"),
    ("wiltshire", "Wiltshire", "South West"),
]
FORCE_IDS = {f[0] for f in FORCES}
WELSH_FORCES = {"dyfed_powys", "gwent", "north_wales", "south_wales"}

# ... and the spellings the sources use that are not simply the display name. Keys are
# normalised with _norm() ("&" -> "and", "_"/"-"/"," -> space, lower case).
FORCE_ALIASES: dict[str, str] = {
    "london city of": "city_of_london",
    "city of london": "city_of_london",
    "metropolitan police": "metropolitan",
    "metropolitan": "metropolitan",
    "dyfed powys": "dyfed_powys",
}
# Names that appear in the sources but are not one of the 43 territorial forces: skipped on
# purpose. Anything neither mapped nor listed here stops the build.
NOT_A_FORCE = {
    "british transport police", "action fraud", "cifas", "uk finance",
    "england and wales average", "metropolitan and city of london", "england and wales",
    "england", "wales", "east", "east midlands", "london", "north east", "north west",
    "south east", "south west", "yorkshire and the humber",
}


def _norm(name: str) -> str:
    s = str(name).strip().lower().replace("&", " and ")
    s = re.sub(r"[_\-,]", " ", s)
    return re.sub(r"\s+", " ", s).strip()


_FORCE_LOOKUP = {_norm(name): fid for fid, name, _ in FORCES}
_FORCE_LOOKUP.update({_norm(fid): fid for fid, _, _ in FORCES})
_FORCE_LOOKUP.update(FORCE_ALIASES)
# Regions of England share names with forces (West Midlands): only skip names that are not forces.
_SKIP = {n for n in NOT_A_FORCE if n not in _FORCE_LOOKUP}


def force_id(name: str, where: str) -> str | None:
    """Map a source's force name to its id; None for a known non-force; raise if unknown."""
    key = _norm(name)
    if key in _FORCE_LOOKUP:
        return _FORCE_LOOKUP[key]
    if key in _SKIP:
        return None
    raise BuildError(f"{where}: force name {name!r} is not in the mapping table (FORCES / "
                     "FORCE_ALIASES / NOT_A_FORCE in scripts/build_examples.py); add it there.")


def map_forces(df: pd.DataFrame, column: str, where: str) -> pd.DataFrame:
    """Replace a force-name column by `unit` ids, dropping known non-forces."""
    ids = {n: force_id(n, where) for n in df[column].dropna().unique()}
    out = df.assign(unit=df[column].map(ids))
    return out[out["unit"].notna()].drop(columns=[column])


def fy(label: str) -> str:
    """'2013/14', '2013/2014' or a year-ending-March year 2014 -> '2013-14'."""
    s = str(label).strip()
    m = re.fullmatch(r"(\d{4})\s*/\s*(\d{2}|\d{4})", s)
    if m:
        start = int(m.group(1))
        return f"{start}-{(start + 1) % 100:02d}"
    m = re.fullmatch(r"\d{4}", s)
    if m:  # a year ending 31 March
        end = int(s)
        return f"{end - 1}-{end % 100:02d}"
    raise BuildError(f"cannot read financial year {label!r}")


# ---------------------------------------------------------------------------------------------
# Deterministic writing
# ---------------------------------------------------------------------------------------------
def _fmt(x: object) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int | float):
        v = float(x)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(x)


def write_csv(df: pd.DataFrame, path: Path, keys: list[str]) -> None:
    """Write sorted rows with fixed number formatting; fail on duplicate keys."""
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        raise BuildError(f"{path.name}: duplicate keys {keys}:\n{df[dup].head()}")
    df = df.sort_values(keys, kind="mergesort").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(df.columns)]
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            s = _fmt(v)
            if any(c in s for c in ',"\n'):
                s = '"' + s.replace('"', '""') + '"'
            cells.append(s)
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_yaml(obj: dict, path: Path) -> None:
    path.write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=100),
                    encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Policing Model elements (= Police Objective Analysis level-1 groups, with Local Policing split)
# ---------------------------------------------------------------------------------------------
RECLASS_NOTE = (
    "Consistent grouping across 2013-14..2017-18: Public Protection was a sub-objective of "
    "Investigations until 2015-16 and its own POA group from 2016-17; in the 2017-18 HMICFRS "
    "profile 'Local investigation/prisoner processing' was moved from Investigations to Local "
    "Policing. This element always holds Investigations + Public Protection + Local "
    "investigation/prisoner processing, wherever the source filed them."
)
ELEMENTS: dict[str, dict] = {
    "neighbourhood_policing": {
        "label": "Neighbourhood policing",
        "description": "Local Policing: neighbourhood policing teams (POA sub-objective).",
        "functions": ["Local Policing: Neighbourhood Policing"],
    },
    "response": {
        "label": "Response",
        "description": "Local Policing: incident (response) management (POA sub-objective).",
        "functions": ["Local Policing: Incident (response) Management"],
    },
    "local_policing_other": {
        "label": "Other local policing",
        "description": (
            "Rest of the Local Policing group: specialist community liaison and local command "
            "team/overheads (= Local Policing total minus neighbourhood and response; in "
            "2017-18 also minus local investigation/prisoner processing, see investigations)."),
        "functions": ["Local Policing: Specialist Community Liaison",
                      "Local Policing: Local Command Team and Support Overheads"],
    },
    "investigations": {
        "label": "Investigations (incl. public protection)",
        "description": "Reactive and proactive investigation of crime and protection of "
                       "vulnerable people. " + RECLASS_NOTE,
        "functions": ["Investigations", "Public Protection",
                      "Local Investigation/ prisoner processing"],
    },
    "dealing_with_public": {
        "label": "Dealing with the public",
        "description": "Contact management, control room (central communications), front desk.",
        "functions": ["Dealing with the Public"],
    },
    "criminal_justice": {
        "label": "Criminal justice arrangements",
        "description": "Custody, criminal justice units, police doctors, property, PNC.",
        "functions": ["Criminal Justice Arrangements"],
    },
    "road_policing": {
        "label": "Road policing",
        "description": "Traffic units, casualty reduction, vehicle recovery.",
        "functions": ["Road Policing"],
    },
    "operational_support": {
        "label": "Operational support",
        "description": "Firearms, dogs, public order, air, mounted, events, civil contingencies.",
        "functions": ["Operational Support"],
    },
    "intelligence": {
        "label": "Intelligence",
        "description": "Intelligence gathering and analysis / threat assessment.",
        "functions": ["Intelligence"],
    },
    "investigative_support": {
        "label": "Investigative support",
        "description": "Scenes of crime, forensics, fingerprints, image recovery.",
        "functions": ["Investigative Support"],
    },
    "national_policing": {
        "label": "National policing",
        "description": "Counter terrorism / special branch, national services, secondments.",
        "functions": ["National Policing"],
    },
    "support_functions": {
        "label": "Support functions",
        "description": "HR, finance, ICT, estates, fleet, training, professional standards.",
        "functions": ["Support Functions"],
    },
    "central_costs": {
        "label": "Central costs",
        "description": "Capital financing, pensions and exit costs (spend, no workforce).",
        "functions": ["Central Costs"],
    },
    "pcc": {
        "label": "Police and Crime Commissioner",
        "description": "Office and commissioned services of the PCC (spend, little workforce).",
        "functions": ["Police Crime Commissioner"],
    },
}
# POA level-1 group -> element (Local Policing and Public Protection handled in poa_elements()).
POA_GROUP_ELEMENT = {
    "Dealing with the Public": "dealing_with_public",
    "Criminal Justice Arrangements": "criminal_justice",
    "Road Policing": "road_policing",
    "Operational Support": "operational_support",
    "Intelligence": "intelligence",
    "Investigations": "investigations",
    "Public Protection": "investigations",
    "Investigative Support": "investigative_support",
    "National Policing": "national_policing",
    "Support Functions": "support_functions",
    "Central Costs": "central_costs",
    "Police Crime Commissioner": "pcc",
}
LI = "Local Investigation/ prisoner processing"


def poa_elements(src: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """POA estimates -> resources rows (fte, spend_gbp) per element, and the PP split extra."""
    long = pd.read_csv(src / "hmicfrs_vfm_poa_by_function" / "poa_by_force_function_long.csv")
    long = map_forces(long, "force", "poa_by_force_function_long.csv")
    long = long[long["measure"].isin(["officers_fte", "staff_fte", "pcso_fte", "gre"])]
    long = long.assign(period=long["financial_year"].map(fy))
    rows = []
    for (unit, period, measure), d in long.groupby(["unit", "period", "measure"]):
        tot = d[d["is_group_total"] == 1].set_index("poa_category")["value"]
        sub = d[d["is_group_total"] == 0]

        def subrow(group: str, cat: str, d=sub, u=unit, p=period, m=measure) -> float:
            v = d[(d["poa_group"] == group) & (d["poa_category"] == cat)]["value"]
            if len(v) != 1 or pd.isna(v.iloc[0]):
                raise BuildError(f"POA {u} {p} {m}: sub-row {group}/{cat} missing")
            return float(v.iloc[0])

        el = dict.fromkeys(ELEMENTS, 0.0)
        for group, element in POA_GROUP_ELEMENT.items():
            if group in tot.index:
                el[element] += float(tot[group])
        lp = float(tot["Local Policing"])
        nb = subrow("Local Policing", "Neighbourhood Policing")
        rs = subrow("Local Policing", "Incident (response) Management")
        li = 0.0
        if period == "2017-18":  # HMICFRS filed LI under Local Policing this year: move it back
            li = subrow("Local Policing", LI)
            inv = sub[sub["poa_group"] == "Investigations"]["value"].sum()
            # One source cell (Nottinghamshire PCSO FTE) already counts LI in the Investigations
            # total (total - sub-rows == LI, and the groups overshoot the grand total by LI):
            # do not add it a second time.
            if not (li > 0 and abs(float(tot["Investigations"]) - inv - li) < 0.01):
                el["investigations"] += li
        el["neighbourhood_policing"], el["response"] = nb, rs
        other = lp - nb - rs - li
        if other < -0.05 * max(lp, 1):
            raise BuildError(f"POA {unit} {period} {measure}: sub-rows exceed Local Policing")
        el["local_policing_other"] = max(other, 0.0)
        grand = [c for c in ("ALL (Level 2 summary)", "Total") if c in tot.index]
        if not grand:
            raise BuildError(f"POA {unit} {period} {measure}: no grand total row")
        if abs(sum(el.values()) - float(tot[grand[0]])) > max(1.0, 0.002 * float(tot[grand[0]])):
            raise BuildError(f"POA {unit} {period} {measure}: elements {sum(el.values())} != "
                             f"grand total {tot[grand[0]]}")
        pp = (float(tot["Public Protection"]) if "Public Protection" in tot.index else
              (subrow("Investigations", "Public Protection") if measure == "gre" else math.nan))
        for element, value in el.items():
            rows.append((unit, period, element, measure, value, pp))
    r = pd.DataFrame(rows, columns=["unit", "period", "element", "measure", "value", "pp"])
    fte = (r[r["measure"] != "gre"].groupby(["unit", "period", "element"], as_index=False)
           ["value"].sum().assign(measure="fte"))
    fte["value"] = fte["value"].round(2)
    spend = r[r["measure"] == "gre"].assign(measure="spend_gbp")
    spend["value"] = (spend["value"] * 1000).round(0)
    res = pd.concat([fte, spend[["unit", "period", "element", "value", "measure"]]])
    # Public protection (already inside `investigations`) shown on its own where the source splits it.
    ppx = r[r["element"] == "investigations"][["unit", "period", "measure", "pp"]]
    ppx = ppx.pivot_table(index=["unit", "period"], columns="measure", values="pp").reset_index()
    ppx["public_protection_fte"] = ppx[["officers_fte", "staff_fte", "pcso_fte"]].sum(
        axis=1, min_count=3).round(2)
    ppx["public_protection_spend_gbp"] = (ppx["gre"] * 1000).round(0)
    ppx = ppx[["unit", "period", "public_protection_fte", "public_protection_spend_gbp"]]
    return res[["unit", "period", "element", "measure", "value"]], ppx


# Home Office officer functions (31 March snapshots) -> elements, POA-aligned list only.
HO_LOCAL = {"neighbourhood policing": "neighbourhood_policing",
            "incident (response) management": "response",
            "specialist community liaison": "local_policing_other",
            "local command team": "local_policing_other",
            "local policing command team": "local_policing_other"}
HO_GROUP = {"dealing with the public": "dealing_with_public",
            "criminal justice arrangements": "criminal_justice",
            "road policing": "road_policing", "operational support": "operational_support",
            "intelligence": "intelligence", "investigations": "investigations",
            "public protection": "investigations", "investigative support": "investigative_support",
            "national policing": "national_policing", "support functions": "support_functions"}
# Ashby's label -> 31 March snapshot actually held (SOURCE.md: the "2016" rows are March 2015).
HO_SNAPSHOT = {2016: 2015, 2017: 2017, 2018: 2018, 2019: 2019, 2020: 2020, 2021: 2021}


def officer_functions(src: Path) -> pd.DataFrame:
    f = pd.read_csv(src / "home_office_officer_functions_force" /
                    "officer_fte_by_function_force_2012_2021.csv")
    f = f[f["snapshot_year_31_march"].isin(list(HO_SNAPSHOT)) & (f["function_name"] != "total")]
    f = map_forces(f, "force", "officer_fte_by_function_force_2012_2021.csv")

    def element(row) -> str:
        g = row["function_group"]
        if g == "local policing":
            name = row["function_name"]
            if name not in HO_LOCAL:
                raise BuildError(f"officer functions: local policing function {name!r} unmapped")
            return HO_LOCAL[name]
        if g not in HO_GROUP:
            raise BuildError(f"officer functions: function group {g!r} unmapped")
        return HO_GROUP[g]

    f = f.assign(element=f.apply(element, axis=1))
    snap = f["snapshot_year_31_march"].map(HO_SNAPSHOT)
    f = f.assign(period=[f"{y - 1}-{y % 100:02d}" for y in snap])
    out = f.groupby(["unit", "period", "element"], as_index=False)["officer_fte"].sum()
    out = out.rename(columns={"officer_fte": "value"}).assign(measure="officer_fte")
    out["value"] = out["value"].round(2)
    return out[["unit", "period", "element", "measure", "value"]]


# ---------------------------------------------------------------------------------------------
# Force outcomes
# ---------------------------------------------------------------------------------------------
# rec-crime-pfa offences -> offence group indicator (fraud excluded: transferred to Action Fraud).
PRC_GROUP = {
    "Violence with injury": "violence", "Violence without injury": "violence",
    "Stalking and harassment": "violence", "Homicide": "violence",
    "Death or serious injury caused by illegal driving": "violence",
    "Sexual offences": "sexual", "Robbery": "robbery",
    "Domestic burglary": "burglary", "Non-domestic burglary": "burglary",
    "Residential burglary": "burglary", "Non-residential burglary": "burglary",
    "Vehicle offences": "vehicle", "Theft from the person": "theft",
    "Bicycle theft": "theft", "Shoplifting": "theft", "All other theft offences": "theft",
    "Criminal damage and arson": "criminal_damage", "Drug offences": "drugs",
    "Possession of weapons offences": "weapons", "Public order offences": "public_order",
    "Miscellaneous crimes against society": "misc_society",
}
PRC_EXCLUDED = {"Fraud offences", "Action Fraud", "CIFAS", "UK Finance"}
CRIME_LABELS = {
    "total": "Total recorded crime (excl. fraud)",
    "violence": "Violence against the person", "sexual": "Sexual offences",
    "robbery": "Robbery", "burglary": "Burglary", "vehicle": "Vehicle offences",
    "theft": "Theft (excl. burglary and vehicle offences)",
    "criminal_damage": "Criminal damage and arson", "drugs": "Drug offences",
    "weapons": "Possession of weapons offences", "public_order": "Public order offences",
    "misc_society": "Miscellaneous crimes against society",
}


def recorded_crime_counts(src: Path) -> pd.DataFrame:
    r = pd.read_csv(src / "home_office_prc_force_rolling_year" / "rec-crime-pfa.csv")
    unknown = set(r["Offence"]) - set(PRC_GROUP) - PRC_EXCLUDED
    if unknown:
        raise BuildError(f"rec-crime-pfa.csv: unmapped offences {sorted(unknown)}")
    d = pd.to_datetime(r["12 months ending"], dayfirst=True)
    r = r[(d.dt.month == 3) & (d.dt.day == 31) & r["Offence"].isin(list(PRC_GROUP))]
    r = r.assign(year=d[r.index].dt.year)
    regions = r[["PFA", "Region"]].drop_duplicates()
    r = map_forces(r, "PFA", "rec-crime-pfa.csv")
    # Cross-check the region table against the source's own Region column.
    for _, row in regions.iterrows():
        fid = force_id(row["PFA"], "rec-crime-pfa.csv")
        if fid and {f[0]: f[2] for f in FORCES}[fid].replace(" of England", "") != \
                str(row["Region"]).replace(" of England", ""):
            raise BuildError(f"region of {fid}: table says something else than {row['Region']}")
    r = r.assign(group=r["Offence"].map(PRC_GROUP), period=r["year"].map(fy))
    # Burglary: the four labels never overlap (zeros where a label is not in use), so sum them.
    g = r.groupby(["unit", "period", "group"], as_index=False)[
        "Rolling year total number of offences"].sum()
    g = g.rename(columns={"Rolling year total number of offences": "offences"})
    tot = g.groupby(["unit", "period"], as_index=False)["offences"].sum().assign(group="total")
    return pd.concat([g, tot])[["unit", "period", "group", "offences"]]


def adr(src: Path) -> pd.DataFrame:
    a = pd.read_csv(src / "hmicfrs_vfm_adr_force_indicators" / "adr_force_indicators_long.csv")
    return map_forces(a, "force", "adr_force_indicators_long.csv")


def census_ethnicity(src: Path) -> pd.DataFrame:
    c = pd.read_csv(src / "context_force_lookups" / "force_census2011_ethnicity.csv")
    c = map_forces(c, "PFA16NM", "force_census2011_ethnicity.csv")
    allc = "Ethnic Group: All categories: Ethnic group; measures: Value"
    white = "Ethnic Group: White; measures: Value"
    wb = "Ethnic Group: White: English/Welsh/Scottish/Northern Irish/British; measures: Value"
    return pd.DataFrame({
        "unit": c["unit"], "census_2011": c[allc],
        "pct_white_british": (100 * c[wb] / c[allc]).round(2),
        "pct_bame": (100 * (c[allc] - c[white]) / c[allc]).round(2),
    })


def populations(a: pd.DataFrame, census: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Population per force and financial year, with the source used for each year."""
    pop = {}
    for profile, year in [(2013, 2011), (2014, 2013), (2015, 2014), (2016, 2015), (2017, 2016)]:
        d = a[(a["vfm_profile_year"] == profile) & a["variable"].str.startswith("Population (1000s)")]
        if d["unit"].nunique() != 43 or len(d) != 43:
            raise BuildError(f"ADR {profile}: population sheet does not have 43 forces")
        title = " ".join(d["sheet_title"].astype(str).unique()) + " " + \
            " ".join(d["variable"].astype(str).unique())
        if f"mid-{year}" not in title:
            raise BuildError(f"ADR {profile}: expected mid-{year} population, found {title!r}")
        pop[year] = (d.set_index("unit")["value"] * 1000).round(0)
    rows, how = [], {}
    cen = census.set_index("unit")["census_2011"]

    def add(period: str, series: pd.Series, note: str) -> None:
        how[period] = note
        rows.extend((u, period, float(v)) for u, v in series.items())

    # HMIC's City of London figure is far above the City's 7,375 census residents (it is not a
    # resident count): use HMIC's mid-2011 figure for the City in 2010-11 too, so its series has
    # no break, and say so in PROVENANCE.md.
    cen = cen.astype(float)
    cen["city_of_london"] = pop[2011]["city_of_london"]
    add("2010-11", cen, "2011 Census usual residents (27 March 2011, last week of FY 2010-11); "
        "City of London: HMIC mid-2011 figure")
    add("2011-12", pop[2011], "ONS mid-2011 estimate (HMIC VfM 2013 ADR workbook)")
    add("2012-13", ((pop[2011] + pop[2013]) / 2).round(0),
        "no mid-2012 estimate held: mean of ONS mid-2011 and mid-2013 (linear interpolation)")
    for y, wb in [(2013, 2014), (2014, 2015), (2015, 2016), (2016, 2017)]:
        add(f"{y}-{(y + 1) % 100:02d}", pop[y], f"ONS mid-{y} estimate (HMIC VfM {wb} ADR)")
    add("2017-18", pop[2016], "no mid-2017 estimate held: ONS mid-2016 carried forward one year")
    return pd.DataFrame(rows, columns=["unit", "period", "population"]), how


def charge_outcomes(src: Path) -> pd.DataFrame:
    o = pd.read_csv(src / "home_office_crime_outcomes_force" /
                    "outcomes_force_quarter_offencegroup_2017_2019.csv")
    o = map_forces(o, "force_name", "outcomes_force_quarter_offencegroup_2017_2019.csv")
    col = "outcomes_for_offences_recorded_in_quarter"
    o = o.assign(period=o["financial_year"].map(fy), charged=o[col].where(o["outcome_type"] == 1, 0))
    g = o.groupby(["unit", "period"], as_index=False).agg(numerator=("charged", "sum"),
                                                         denominator=(col, "sum"))
    return g.assign(indicator="charge_rate")


def sanction_detections(a: pd.DataFrame) -> pd.DataFrame:
    """SD / recorded crimes (total excl. fraud), numerator and denominator from one workbook."""
    var = "Total (Crimes) excl. Fraud"
    parts = []
    for profile, sd_sheet, years in [(2013, "Snapshot_SD", ["2009/10", "2010/11", "2011/12",
                                                            "2012/13"]),
                                     (2014, "Snapshot_detections", ["2013/2014"])]:
        sheets = {"sd": sd_sheet, "crime": "Snapshot_crime"}
        vals = {}
        for k, sheet in sheets.items():
            d = a[(a["vfm_profile_year"] == profile) & (a["sheet"] == sheet) &
                  (a["variable"] == var) & a["period_block"].isin(years)]
            if k == "crime" and profile == 2014:
                d = a[(a["vfm_profile_year"] == 2014) & (a["sheet"] == sheet) &
                      (a["variable"] == var) & (a["period_block"] == "2013/14")]
            # The 2013 workbook repeats the 2009/10 block verbatim (checked in the raw xlsx).
            d = d.drop_duplicates(["unit", "period_block", "value"])
            if d.duplicated(["unit", "period_block"]).any():
                raise BuildError(f"ADR {profile} {sheet}: conflicting duplicate year blocks")
            vals[k] = d.assign(period=d["period_block"].map(fy)).set_index(["unit", "period"])[
                "value"]
        j = pd.concat({"numerator": vals["sd"], "denominator": vals["crime"]}, axis=1).dropna()
        parts.append(j.reset_index())
    out = pd.concat(parts).assign(indicator="sanction_detection_rate")
    if out.groupby("period")["unit"].nunique().min() != 43:
        raise BuildError("sanction detections: not all 43 forces in every year")
    return out


def victim_satisfaction(a: pd.DataFrame) -> pd.DataFrame:
    d = a[a["sheet"] == "Victims_of_crime_survey"].pivot_table(
        index="unit", columns="variable", values="value")
    p, hw = d["% Satisfied"], d["Confidence interval"]
    # Effective sample size implied by the published 95% interval (half-width = 1.96*sqrt(pq/n));
    # numerator = satisfied share x n rounded to a whole victim (the panel wants counts), which
    # moves the percentage by less than 0.5/n (about 0.02 points).
    n = (p * (1 - p) * (1.96 / hw) ** 2).round(0)
    return pd.DataFrame({"unit": d.index, "period": "2012-13", "indicator": "victim_satisfaction",
                         "numerator": (p * n).round(0).values, "denominator": n.values})


def imd_by_force(src: Path, census_la: pd.DataFrame) -> pd.Series:
    x = pd.read_excel(src / "context_imd2019_lad" /
                      "File_10_-_IoD2019_Local_Authority_District_Summaries__lower-tier__.xlsx",
                      sheet_name="IMD")
    x.columns = [c.strip() for c in x.columns]
    x = x.rename(columns={"Local Authority District code (2019)": "lad19",
                          "IMD - Average score": "imd"})[["lad19", "imd"]]
    lk = pd.read_csv(src / "context_force_lookups" / "LAD_to_CSP_to_PFA_Dec2016_lookup.csv",
                     encoding="utf-8-sig")
    lk = map_forces(lk, "PFA16NM", "LAD_to_CSP_to_PFA_Dec2016_lookup.csv")
    lk = lk.merge(census_la, on="LAD16NM", how="left", validate="one_to_one")
    if lk["pop2011"].isna().any():
        raise BuildError(f"census LA population missing for {lk[lk.pop2011.isna()].LAD16NM.tolist()}")
    # 2019 LADs created by mergers after the Dec 2016 lookup -> their 2016 constituents.
    merged = {"E06000058": ["E06000028", "E06000029", "E07000048"],  # Bournemouth, Christchurch, Poole
              "E06000059": ["E07000049", "E07000050", "E07000051", "E07000052", "E07000053"],
              "E07000244": ["E07000205", "E07000206"],  # East Suffolk
              "E07000245": ["E07000201", "E07000204"],  # West Suffolk
              "E07000246": ["E07000190", "E07000191"]}  # Somerset West and Taunton
    by16 = lk.set_index("LAD16CD")
    rows = []
    for code, score in zip(x["lad19"], x["imd"], strict=True):
        parts = merged.get(code, [code])
        missing = [c for c in parts if c not in by16.index]
        if missing:
            raise BuildError(f"IMD 2019 LAD {code} not in the Dec 2016 lookup ({missing})")
        units = by16.loc[parts, "unit"].unique()
        if len(units) != 1:
            raise BuildError(f"IMD LAD {code} spans several forces {units}")
        rows.append((units[0], score, by16.loc[parts, "pop2011"].sum()))
    d = pd.DataFrame(rows, columns=["unit", "imd", "w"])
    return (d.assign(iw=d.imd * d.w).groupby("unit")["iw"].sum() /
            d.groupby("unit")["w"].sum()).round(3)


def build_forces(src: Path, out: Path) -> dict:
    a = adr(src)
    census = census_ethnicity(src)
    pop, pop_note = populations(a, census)
    popi = pop.set_index(["unit", "period"])["population"]

    # --- resources
    res, ppx = poa_elements(src)
    res = pd.concat([res, officer_functions(src)])
    if (res["value"] < 0).any():
        raise BuildError("negative resource values")
    write_csv(res, out / "resources.csv", ["unit", "period", "element", "measure"])
    write_csv(ppx, out / "extras" / "poa_public_protection_split.csv", ["unit", "period"])

    # --- outcomes
    crime = recorded_crime_counts(src)
    write_csv(crime.rename(columns={"group": "offence_group"}),
              out / "extras" / "recorded_crime_counts.csv", ["unit", "period", "offence_group"])
    cr = crime.join(popi, on=["unit", "period"]).dropna(subset=["population"])
    cr = cr.assign(indicator="crime_" + cr["group"]).rename(
        columns={"offences": "numerator", "population": "denominator"})
    parts = [cr[["unit", "period", "indicator", "numerator", "denominator"]]]

    arr = pd.read_csv(src / "home_office_arrests_force" / "arrests_force_offencegroup_2006_2018.csv")
    arr = map_forces(arr, "force_name", "arrests_force_offencegroup_2006_2018.csv")
    arr = arr.assign(period=arr["financial_year"].map(fy)).groupby(
        ["unit", "period"], as_index=False)["arrests"].sum()
    write_csv(arr, out / "extras" / "arrests_counts.csv", ["unit", "period"])
    ar = arr.join(popi, on=["unit", "period"]).dropna(subset=["population"])
    parts.append(ar.rename(columns={"arrests": "numerator", "population": "denominator"})
                 .assign(indicator="arrests"))

    css = pd.read_csv(src / "ons_crime_severity_score_force" / "css_pfa_offencegroup_ye2003_2022.csv")
    # Police force areas only (E23/W15 codes): "West Midlands" is also a region name here.
    css = css[(css["offence_group"] == "Total recorded crime") &
              css["code"].str.match(r"(E23|W15)")]
    # ":" marks a score ONS does not publish (City of London): left out, not zero.
    css = css.assign(severity_score=pd.to_numeric(css["severity_score"].replace(":", None)))
    css = css.dropna(subset=["severity_score"])
    css = map_forces(css, "name", "css_pfa_offencegroup_ye2003_2022.csv")
    css = css.assign(period=pd.to_datetime(css["year_ending"]).dt.year.map(fy))
    # Denominator = the year's population where held, else the nearest held year's (a weight
    # only: numerator = score x denominator / 1000, so rate x 1000 is the published score).
    held = sorted(pop["period"].unique())

    def nearest(p: str) -> str:
        return min(held, key=lambda h: (abs(int(h[:4]) - int(p[:4])), h))

    css = css.assign(pp=css["period"].map(nearest))
    css = css.join(popi.rename("denominator"), on=["unit", "pp"])
    css = css.assign(numerator=(css["severity_score"] * css["denominator"] / 1000).round(4),
                     indicator="crime_severity")
    parts.append(css[["unit", "period", "indicator", "numerator", "denominator"]])
    parts += [sanction_detections(a), charge_outcomes(src), victim_satisfaction(a)]
    outcomes = pd.concat(parts)[["unit", "period", "indicator", "numerator", "denominator"]]
    if (outcomes["denominator"] <= 0).any() or outcomes[["numerator", "denominator"]].isna().any().any():
        raise BuildError("outcomes with missing numerator or non-positive denominator")
    write_csv(outcomes, out / "outcomes.csv", ["unit", "period", "indicator"])

    ind = [(f"crime_{g}", f"{lab} per 1,000 population", "rate", False, 1000)
           for g, lab in CRIME_LABELS.items()]
    ind += [
        ("crime_severity", "Crime severity score (ONS, harm-weighted crime per 1,000 population)",
         "rate", False, 1000),
        ("arrests", "Arrests per 1,000 population", "rate", True, 1000),
        ("sanction_detection_rate", ("Sanction detection rate, % of recorded crime "
                                     "(pre-April 2014 framework)"), "proportion", True, 100),
        ("charge_rate", ("Charge/summons rate, % of offences recorded in the year "
                         "(outcomes framework)"), "proportion", True, 100),
        ("victim_satisfaction", "Victims satisfied with the whole experience, %",
         "proportion", True, 100),
    ]
    # `counts` false: the crime severity numerator is a harm-weighted score, not a count of
    # events, so exact count tests must not be run on it (goodpractice.compare honours this).
    table = pd.DataFrame(ind, columns=["indicator", "label", "kind", "higher_is_better",
                                       "multiplier"])
    table["counts"] = table["indicator"] != "crime_severity"
    write_csv(table, out / "indicators.csv", ["indicator"])

    # --- units and context
    imd = imd_by_force(src, census_la(src))
    calls = demand(a)
    latest = calls[calls["period"] == "2016-17"].set_index("unit")
    p16 = popi.xs("2016-17", level="period")
    units = pd.DataFrame(FORCES, columns=["unit", "name", "parent"]).assign(level="force")
    units = units.set_index("unit")
    units["population"] = p16
    units["imd_score"] = imd
    units = units.join(census.set_index("unit")[["pct_white_british", "pct_bame"]])
    units["calls_999_per_1000"] = (1000 * latest["calls_999"] / p16).round(2)
    units["incidents_per_1000"] = (1000 * latest["incidents"] / p16).round(2)
    units = units.reset_index()[["unit", "name", "level", "parent", "population", "imd_score",
                                 "pct_white_british", "pct_bame", "calls_999_per_1000",
                                 "incidents_per_1000"]]
    write_csv(units, out / "units.csv", ["unit"])

    ctx = [pop.rename(columns={"population": "value"}).assign(variable="population")]
    for v in ("calls_999", "incidents"):
        d = calls[["unit", "period", v]].dropna().rename(columns={v: "value"})
        ctx.append(d.assign(variable=v))
    write_csv(pd.concat(ctx)[["unit", "period", "variable", "value"]], out / "context.csv",
              ["unit", "period", "variable"])

    targets = pd.DataFrame([
        ("charge_rate", "", "2017-18", "at_least", 10, "", SEED_JD),
        ("charge_rate", "", "2018-19", "at_least", 10, "", SEED_JD),
        ("crime_robbery", "metropolitan", "2017-18", "reduce_by_pct", 5, "2016-17", SEED_SC),
        ("crime_burglary", "metropolitan", "2017-18", "reduce_by_pct", 2, "2016-17", SEED_BU),
    ], columns=["indicator", "unit", "period", "kind", "value", "baseline_period", "source"])
    write_csv(targets, out / "targets.csv", ["indicator", "unit", "period"])
    write_yaml({"elements": ELEMENTS}, out / "policing_model.yaml")
    return {"population_sources": pop_note}


SEED = "MPA policing plan 2001/02 draft objectives (seeds/004), applied as an illustration"
SEED_JD = SEED + ": street crime 'judicial disposal rate of 10 per cent'"
SEED_SC = SEED + ": 'Reduce street crime by 5 per cent' (robbery used for street crime)"
SEED_BU = SEED + ": 'Reduce residential burglary by 2 per cent' (all burglary used)"


def census_la(src: Path) -> pd.DataFrame:
    c = pd.read_csv(src / "context_force_lookups" / "la_census2011_ethnicity_with_force.csv")
    c = c[c["Rural Urban"] == "Total"]
    return pd.DataFrame({"LAD16NM": c["LAD16NM"],
                         "pop2011": c["Ethnic Group: All categories: Ethnic group; measures: Value"]})


def demand(a: pd.DataFrame) -> pd.DataFrame:
    """999 calls and emergency+priority incidents per force and financial year (ADR 441/342).

    Later workbooks repeat earlier years: for each force and year only the latest workbook's
    figures are kept. A published 0 is read as "not supplied" (City of London 2012-13 is inside
    the Met's figure; Leicestershire 2016-17 is 0), not as no demand.
    """
    rows = []
    calls = a[a["variable"].str.contains("999 calls|emergency_calls_recd", regex=True)]
    for _, r in calls.iterrows():
        m = re.search(r"31 March (\d{4})", str(r["variable"])) or \
            re.search(r"(\d{4}/\d{2,4})", str(r["period_block"])) or \
            re.search(r"31 March (\d{4})", str(r["sheet_title"]))
        if not m:
            raise BuildError(f"999 calls: no year in {r['sheet_title']!r} {r['variable']!r}")
        rows.append((r["unit"], fy(m.group(1)), "calls_999", r["vfm_profile_year"], r["value"]))
    inc = a[a["sheet_title"].astype(str).str.startswith("Incidents summary") &
            a["variable"].str.match(r"NSIR (Emergency|Priority) incidents")]
    for _, r in inc.iterrows():
        # The section heading carries the year; the 2016 workbook's 2014/15 block repeats
        # "year to end 31 March 2016" in its row labels (its 2015/16 block matches 2017's).
        m = re.search(r"(\d{4}/\d{2})", str(r["sheet_title"]))
        rows.append((r["unit"], fy(m.group(1)), "incidents", r["vfm_profile_year"], r["value"]))
    d = pd.DataFrame(rows, columns=["unit", "period", "variable", "vintage", "value"])
    latest = d.groupby(["unit", "period", "variable"])["vintage"].transform("max")
    d = d[d["vintage"] == latest]
    d = d.groupby(["unit", "period", "variable"], as_index=False)["value"].sum()
    d = d[d["value"] > 0]
    return d.pivot(index=["unit", "period"], columns="variable", values="value").reset_index()


# ---------------------------------------------------------------------------------------------
# London boroughs
# ---------------------------------------------------------------------------------------------
MPS_GROUP = {
    "Violence Against the Person": "violence", "Sexual Offences": "sexual",
    "Robbery": "robbery", "Burglary": "burglary", "Vehicle Offences": "vehicle",
    "Theft": "theft", "Arson and Criminal Damage": "criminal_damage",
    "Drug Offences": "drugs", "Possession of Weapons": "weapons",
    "Public Order Offences": "public_order",
    "Miscellaneous Crimes Against Society": "misc_society",
}
MPS_DROPPED_GROUPS = {"Historical Fraud and Forgery"}
AIRPORTS = "London Heathrow and London City Airports"


def borough_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def build_london(src: Path, out: Path, force_model: dict) -> dict:
    folder = src / "mps_borough_crime"
    frames = []
    for f in ("MPS_Borough_Level_Crime_Historical_201004-202201.csv",
              "MPS_Borough_Level_Crime_recent24m_202202-202401.csv"):
        d = pd.read_csv(folder / f)
        unknown = set(d["MajorText"]) - set(MPS_GROUP) - MPS_DROPPED_GROUPS
        if unknown:
            raise BuildError(f"{f}: unmapped MajorText {sorted(unknown)}")
        months = [c for c in d.columns if re.fullmatch(r"\d{6}", c)]
        m = d.melt(id_vars=["MajorText", "MinorText", "LookUp_BoroughName"], value_vars=months,
                   var_name="month", value_name="count")
        frames.append(m.assign(file=f))
    m = pd.concat(frames)
    if m.duplicated(["MajorText", "MinorText", "LookUp_BoroughName", "month"]).any():
        raise BuildError("MPS files overlap in months")
    m = m[m["LookUp_BoroughName"] != AIRPORTS]
    m = m[m["MajorText"].isin(list(MPS_GROUP))]
    # The month is the column header (YYYYMM); the repo file names are off by one month.
    m = m.assign(period=m["month"].str[:4] + "-" + m["month"].str[4:],
                 group=m["MajorText"].map(MPS_GROUP))

    prof = pd.read_csv(src / "context_london_boroughs" / "london-borough-profiles.csv",
                       encoding="latin1")
    prof = prof[prof["Code"].astype(str).str.match(r"E09\d{6}") & (prof["Code"] != "E09000001")]
    names = set(m["LookUp_BoroughName"])
    missing = names - set(prof["Area_name"])
    if missing or len(names) != 32:
        raise BuildError(f"MPS borough names not in GLA profiles: {sorted(missing)}")

    def num(col: str) -> pd.Series:
        s = prof[col].astype(str).str.replace("[£,\\s]", "", regex=True)
        return pd.to_numeric(s, errors="coerce")

    imd = pd.read_excel(src / "context_imd2019_lad" /
                        "File_10_-_IoD2019_Local_Authority_District_Summaries__lower-tier__.xlsx",
                        sheet_name="IMD")
    imd.columns = [c.strip() for c in imd.columns]
    imd = imd.set_index("Local Authority District code (2019)")["IMD - Average score"]
    units = pd.DataFrame({
        "unit": prof["Area_name"].map(borough_id), "name": prof["Area_name"], "level": "borough",
        "parent": prof["Inner/_Outer_London"],
        "population": num("GLA_Population_Estimate_2017"),
        "area_km2": (num("Inland_Area_(Hectares)") / 100).round(2),
        "density_per_km2": (num("Population_density_(per_hectare)_2017") * 100).round(1),
        "pct_bame": num("%_of_population_from_BAME_groups_(2016)"),
        "pct_born_abroad": num("%_of_resident_population_born_abroad_(2015)"),
        "median_household_income": num("Modelled_Household_median_income_estimates_2012/13"),
        "employment_rate": num("Employment_rate_(%)_(2015)"),
        "unemployment_rate": num("Unemployment_rate_(2015)"),
        "pct_out_of_work_benefits": num("Proportion_of_the_working-age_population_who_claim_"
                                        "out-of-work_benefits_(%)_(May-2016)"),
        "ptal_score": num("Average_Public_Transport_Accessibility_score,_2014"),
        "imd_score": prof["Code"].map(imd).round(3).values,
    })
    if units["imd_score"].isna().any() or units["population"].isna().any():
        raise BuildError("London: borough without IMD 2019 score or GLA population")
    write_csv(units, out / "units.csv", ["unit"])

    m = m.assign(unit=m["LookUp_BoroughName"].map(borough_id))
    g = m.groupby(["unit", "period", "group"], as_index=False)["count"].sum()
    tot = g.groupby(["unit", "period"], as_index=False)["count"].sum().assign(group="total")
    g = pd.concat([g, tot])
    popu = units.set_index("unit")["population"]
    outcomes = pd.DataFrame({"unit": g["unit"], "period": g["period"],
                             "indicator": "crime_" + g["group"], "numerator": g["count"],
                             "denominator": g["unit"].map(popu)})
    write_csv(outcomes, out / "outcomes.csv", ["unit", "period", "indicator"])
    ind = [(f"crime_{k}", f"{lab} per 1,000 residents (month)", "rate", False, 1000)
           for k, lab in CRIME_LABELS.items()]
    write_csv(pd.DataFrame(ind, columns=["indicator", "label", "kind", "higher_is_better",
                                         "multiplier"]), out / "indicators.csv", ["indicator"])
    targets = []
    for month in pd.period_range("2023-04", "2024-01", freq="M"):
        base = (month - 12).strftime("%Y-%m")
        targets.append(("crime_robbery", "", month.strftime("%Y-%m"), "reduce_by_pct", 5, base,
                        SEED_SC))
        targets.append(("crime_burglary", "", month.strftime("%Y-%m"), "reduce_by_pct", 2, base,
                        SEED_BU))
    write_csv(pd.DataFrame(targets, columns=["indicator", "unit", "period", "kind", "value",
                                             "baseline_period", "source"]),
              out / "targets.csv", ["indicator", "unit", "period"])
    write_yaml(force_model, out / "policing_model.yaml")

    # --- extras: London-wide strength (monthly) and PAS confidence (quarterly)
    mw = src / "mps_london_wide_strength_confidence"
    s = pd.read_csv(mw / "Police_Force_Strength.csv")
    s = s.assign(period=pd.to_datetime(s["Date"], format="%b-%y").dt.strftime("%Y-%m"))
    s = s.melt(id_vars=["period"], value_vars=["Police Officer Strength", "Police Staff Strength",
                                                "PCSO Strength"], var_name="measure",
               value_name="fte")
    s["measure"] = s["measure"].map({"Police Officer Strength": "officers",
                                     "Police Staff Strength": "staff", "PCSO Strength": "pcso"})
    write_csv(s, out / "extras" / "mps_strength.csv", ["period", "measure"])
    p = pd.read_csv(mw / "public-perception-data.csv")
    d = pd.to_datetime(p["date"], format="%b-%y")
    p = pd.DataFrame({"period": d.dt.year.astype(str) + "-Q" + d.dt.quarter.astype(str),
                      "quarter_end": d.dt.strftime("%Y-%m"), "measure": p["measure"],
                      "pct_agree": p["proportion"]})
    write_csv(p, out / "extras" / "pas_confidence.csv", ["period", "measure"])
    return {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="folder holding the raw data")
    ap.add_argument("--out", type=Path, default=OUT, help="examples folder to write")
    args = ap.parse_args(argv)
    try:
        notes = build_forces(args.source, args.out / "forces")
        build_london(args.source, args.out / "london", {"elements": ELEMENTS})
    except BuildError as exc:
        print(f"build_examples: {exc}", file=sys.stderr)
        return 1
    for period, note in sorted(notes["population_sources"].items()):
        print(f"population {period}: {note}")
    for ds in ("forces", "london"):
        for f in sorted((args.out / ds).rglob("*")):
            if f.is_file():
                print(f"{f.relative_to(args.out)}  {f.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
