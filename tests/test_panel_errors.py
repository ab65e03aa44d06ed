"""The malformed-panel corpus: every broken panel gives one clear error naming the exact place.

Each case starts from a small valid panel written to disk, breaks one thing in a real file, and
asserts the file, spreadsheet row (1 = header) and column that the PanelFormatError names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import goodpractice as gp
from goodpractice.errors import PanelFormatError

VALID = {
    "units.csv": (
        "unit,name,level,parent,population,area_km2\n"
        "durham,Durham,force,North East,626000,2232\n"
        "cleveland,Cleveland,force,North East,560000,597\n"
        "cumbria,Cumbria,force,North West,498000,6768\n"
    ),
    "indicators.csv": (
        "indicator,label,kind,higher_is_better,multiplier\n"
        "charge_rate,Charge/summons rate,proportion,true,100\n"
        "burglary,Burglary per 1000,rate,false,1000\n"
    ),
    "outcomes.csv": (
        "unit,period,indicator,numerator,denominator\n"
        "durham,2016-17,charge_rate,4010,48000\n"
        "durham,2017-18,charge_rate,4210,48900\n"
        "cleveland,2017-18,charge_rate,4000,50000\n"
        "cumbria,2017-18,burglary,1500,498000\n"
    ),
    "resources.csv": (
        "unit,period,element,measure,value\n"
        "durham,2017-18,investigations,fte,412.5\n"
        "cleveland,2017-18,investigations,fte,300\n"
        "cumbria,2017-18,response,fte,280\n"
    ),
    "policing_model.yaml": (
        "elements:\n"
        "  investigations:\n"
        "    label: Investigations\n"
        "    description: Reactive and proactive investigation of crime\n"
        "    functions: [Investigations]\n"
        "  response:\n"
        "    label: Response\n"
        "    functions: [Incident (response) management]\n"
    ),
    "targets.csv": (
        "indicator,unit,period,kind,value,baseline_period,source\n"
        "charge_rate,,2017-18,at_least,10,,2001/02 plan\n"
        "burglary,cumbria,2017-18,reduce_by_pct,5,2016-17,2001/02 plan\n"
    ),
}


def write_panel(folder: Path, changes: dict[str, str | bytes | None]) -> Path:
    files = {**VALID, **changes}
    for name, content in files.items():
        if content is None:
            continue
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def replace_line(file: str, line: int, new: str) -> str:
    """VALID[file] with spreadsheet row `line` (1 = header) replaced."""
    lines = VALID[file].splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


def append(file: str, *rows: str) -> str:
    return VALID[file] + "".join(r + "\n" for r in rows)


# (case id, changes, file, row, column, words the message must contain)
CASES = [
    ("missing units file", {"units.csv": None}, "units.csv", None, None, "missing file"),
    ("missing outcomes file", {"outcomes.csv": None}, "outcomes.csv", None, None, "missing file"),
    ("missing indicators file", {"indicators.csv": None}, "indicators.csv", None, None,
     "missing file"),
    ("missing column denominator",
     {"outcomes.csv": VALID["outcomes.csv"].replace(",denominator", ",denom")},
     "outcomes.csv", 1, "denominator", "missing column"),
    ("missing column level",
     {"units.csv": VALID["units.csv"].replace("level,", "tier,")}, "units.csv", 1, "level",
     "missing column"),
    ("duplicate outcome key",
     {"outcomes.csv": append("outcomes.csv", "durham,2017-18,charge_rate,4300,49000")},
     "outcomes.csv", 6, "indicator", "already on row 3"),
    ("duplicate unit", {"units.csv": append("units.csv", "durham,Durham again,force,,1,1")},
     "units.csv", 5, "unit", "duplicate key"),
    ("negative FTE", {"resources.csv": replace_line("resources.csv", 3,
                                                    "cleveland,2017-18,investigations,fte,-3")},
     "resources.csv", 3, "value", ">= 0"),
    ("text in a count", {"outcomes.csv": replace_line("outcomes.csv", 4,
                                                      "cleveland,2017-18,charge_rate,n/a,50000")},
     "outcomes.csv", 4, "numerator", "'n/a'"),
    ("numerator above denominator",
     {"outcomes.csv": replace_line("outcomes.csv", 3, "durham,2017-18,charge_rate,60000,48900")},
     "outcomes.csv", 3, "numerator", "no greater than the denominator"),
    ("fractional count in a proportion",
     {"outcomes.csv": replace_line("outcomes.csv", 2, "durham,2016-17,charge_rate,40.5,48000")},
     "outcomes.csv", 2, "numerator", "whole number"),
    ("unknown unit in outcomes",
     {"outcomes.csv": append("outcomes.csv", "gotham,2017-18,charge_rate,1,10")},
     "outcomes.csv", 6, "unit", "defined in units.csv"),
    ("unknown indicator in outcomes",
     {"outcomes.csv": append("outcomes.csv", "durham,2017-18,charge_rat,1,10")},
     "outcomes.csv", 6, "indicator", "defined in indicators.csv"),
    ("unknown element in resources",
     {"resources.csv": append("resources.csv", "durham,2017-18,neighbourhood,fte,10")},
     "resources.csv", 5, "element", "policing_model.yaml"),
    ("unknown unit in resources",
     {"resources.csv": append("resources.csv", "Durham,2017-18,response,fte,10")},
     "resources.csv", 5, "unit", "units.csv"),
    ("period with a slash",
     {"outcomes.csv": replace_line("outcomes.csv", 4, "cleveland,2017/18,charge_rate,4000,50000")},
     "outcomes.csv", 4, "period", "write '2017-18'"),
    ("period that is not a year",
     {"resources.csv": replace_line("resources.csv", 2, "durham,2017-19,investigations,fte,1")},
     "resources.csv", 2, "period", "financial year"),
    ("month in an annual panel",
     {"outcomes.csv": append("outcomes.csv", "durham,2018-01,charge_rate,1,10")},
     "outcomes.csv", 6, "period", "financial year like '2017-18'"),
    ("empty file", {"outcomes.csv": ""}, "outcomes.csv", 1, None, "empty"),
    ("zero denominator",
     {"outcomes.csv": replace_line("outcomes.csv", 5, "cumbria,2017-18,burglary,0,0")},
     "outcomes.csv", 5, "denominator", "> 0"),
    ("negative denominator",
     {"outcomes.csv": replace_line("outcomes.csv", 5, "cumbria,2017-18,burglary,0,-5")},
     "outcomes.csv", 5, "denominator", "> 0"),
    ("unknown indicator kind",
     {"indicators.csv": replace_line("indicators.csv", 3, "burglary,Burglary,percentage,false,1")},
     "indicators.csv", 3, "kind", "one of proportion, rate, ratio"),
    ("direction not a boolean",
     {"indicators.csv": replace_line("indicators.csv", 2, "charge_rate,Charge,proportion,maybe,1")},
     "indicators.csv", 2, "higher_is_better", "true or false"),
    ("zero multiplier",
     {"indicators.csv": replace_line("indicators.csv", 3, "burglary,Burglary,rate,false,0")},
     "indicators.csv", 3, "multiplier", "> 0"),
    ("counts flag not a boolean",
     {"indicators.csv": "indicator,label,kind,higher_is_better,multiplier,counts\n"
                        "charge_rate,Charge,proportion,true,100,true\n"
                        "burglary,Burglary,rate,false,1000,perhaps\n"},
     "indicators.csv", 3, "counts", "true or false"),
    ("resources without a policing model", {"policing_model.yaml": None},
     "policing_model.yaml", None, None, "missing file"),
    ("policing model not YAML", {"policing_model.yaml": "elements:\n  a: [b\n  c: d\n"},
     "policing_model.yaml", 3, None, "line 3: not valid YAML"),
    ("policing model element without label",
     {"policing_model.yaml": "elements:\n  investigations:\n    description: x\n"},
     "policing_model.yaml", None, "label", "label"),
    ("reduction target without baseline",
     {"targets.csv": append("targets.csv", "burglary,durham,2017-18,reduce_by_pct,5,,plan")},
     "targets.csv", 4, "baseline_period", "baseline period"),
    ("unknown target kind",
     {"targets.csv": append("targets.csv", "burglary,durham,2017-18,halve,5,,plan")},
     "targets.csv", 4, "kind", "reduce_by_pct"),
    ("text in a context column",
     {"units.csv": replace_line("units.csv", 3, "cleveland,Cleveland,force,North East,n/a,597")},
     "units.csv", 3, "population", "numeric"),
    ("empty unit id",
     {"outcomes.csv": append("outcomes.csv", ",2017-18,charge_rate,1,10")},
     "outcomes.csv", 6, "unit", "a value"),
    ("infinite resource",
     {"resources.csv": replace_line("resources.csv", 4, "cumbria,2017-18,response,fte,inf")},
     "resources.csv", 4, "value", "a number"),
    ("empty resource value",
     {"resources.csv": replace_line("resources.csv", 4, "cumbria,2017-18,response,fte,")},
     "resources.csv", 4, "value", "an empty cell"),
]


@pytest.mark.parametrize(
    "changes, file, row, column, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_panel_names_the_place(tmp_path, changes, file, row, column, words):
    folder = write_panel(tmp_path, changes)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(PanelFormatError) as info:
        gp.read_panel(folder)
    err = info.value
    assert err.file == file
    assert err.row == row
    assert err.column == column
    message = str(err)
    assert message.startswith(file)
    assert words in message
    if row is not None and row > 1 and file.endswith(".csv"):
        assert f"row {row}" in message
    # Reading never writes: the folder holds exactly what the test put there.
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_corpus_is_large_enough():
    assert len(CASES) >= 25


def test_valid_panel_reads(tmp_path):
    panel = gp.read_panel(write_panel(tmp_path, {}))
    assert panel.frequency == "annual"
    assert panel.periods == ["2016-17", "2017-18"]
    assert panel.context_variables == ["population", "area_km2"]
    assert panel.outcomes["numerator"].dtype == float
    assert panel.targets["unit"].isna().sum() == 1
    assert set(panel.elements["element"]) == {"investigations", "response"}
    assert panel.indicators["counts"].all()  # absent column: every numerator is a count


def test_cp1252_file_is_read_and_reported(tmp_path):
    units = VALID["units.csv"].replace("Cumbria,force", "Ynys Môn – Cumbria,force")
    panel = gp.read_panel(write_panel(tmp_path, {"units.csv": units.encode("cp1252")}))
    assert panel.encodings["units.csv"] == "cp1252"
    assert "Ynys Môn – Cumbria" in set(panel.units["name"])
    assert "units.csv was read as cp1252" in panel.summary()


def test_byte_order_mark_is_ignored(tmp_path):
    units = b"\xef\xbb\xbf" + VALID["units.csv"].encode()
    panel = gp.read_panel(write_panel(tmp_path, {"units.csv": units}))
    assert panel.encodings["units.csv"] == "utf-8-sig"
    assert list(panel.units.columns[:2]) == ["unit", "name"]


def test_trailing_blank_lines_and_crlf_are_ignored(tmp_path):
    outcomes = VALID["outcomes.csv"].replace("\n", "\r\n") + "\r\n\r\n,,,,\r\n"
    panel = gp.read_panel(write_panel(tmp_path, {"outcomes.csv": outcomes}))
    assert len(panel.outcomes) == 4


def test_error_after_blank_line_keeps_spreadsheet_row(tmp_path):
    # A blank row 3 still counts as a row, as a spreadsheet shows it.
    outcomes = append("outcomes.csv").replace(
        "durham,2017-18,charge_rate,4210,48900\n", "\ndurham,2017-18,charge_rate,x,48900\n"
    )
    with pytest.raises(PanelFormatError) as info:
        gp.read_panel(write_panel(tmp_path, {"outcomes.csv": outcomes}))
    assert info.value.row == 4


def test_not_a_folder(tmp_path):
    with pytest.raises(PanelFormatError, match="not a folder"):
        gp.read_panel(tmp_path / "nowhere")


def test_from_frames_names_the_table(tmp_path):
    import pandas as pd

    units = pd.DataFrame({"unit": ["a", "b"], "name": ["A", "B"], "level": ["force"] * 2,
                          "parent": ["", ""]})
    indicators = pd.DataFrame({"indicator": ["x"], "label": ["X"], "kind": ["rate"],
                               "higher_is_better": [False], "multiplier": [1000]})
    outcomes = pd.DataFrame({"unit": ["a", "b"], "period": ["2024-01", "2024-01"],
                             "indicator": ["x", "x"], "numerator": [3, -1],
                             "denominator": [100, 100]})
    with pytest.raises(PanelFormatError) as info:
        gp.from_frames(units=units, outcomes=outcomes, indicators=indicators)
    assert (info.value.file, info.value.row, info.value.column) == ("outcomes.csv", 3, "numerator")
    outcomes.loc[1, "numerator"] = 1
    panel = gp.from_frames(units=units, outcomes=outcomes, indicators=indicators)
    assert panel.frequency == "monthly"
