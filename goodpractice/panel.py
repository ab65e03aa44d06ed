"""The data contract: a panel of units, resources, outcomes, indicators and targets.

A panel is a folder of tidy CSV files (DESIGN.md section 3) or the same tables as DataFrames.
`read_panel` checks every rule of the contract and raises :class:`PanelFormatError` naming the
file, the spreadsheet row (1 = header), the column, the value found and what was expected.

    >>> import goodpractice as gp
    >>> panel = gp.read_panel("my_panel")          # doctest: +SKIP
    >>> panel.outcomes.head()                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from goodpractice.errors import PanelFormatError
from goodpractice.periods import infer_frequency, period_problem

EXAMPLES_DIR = Path(__file__).parent / "examples"

# file name -> key columns, required columns (in order) and which file it is when missing.
CONTRACT: dict[str, dict[str, Any]] = {
    "units.csv": {"key": ["unit"], "columns": ["unit", "name", "level", "parent"], "required": True},
    "indicators.csv": {
        "key": ["indicator"],
        "columns": ["indicator", "label", "kind", "higher_is_better", "multiplier"],
        "required": True,
    },
    "outcomes.csv": {
        "key": ["unit", "period", "indicator"],
        "columns": ["unit", "period", "indicator", "numerator", "denominator"],
        "required": True,
    },
    "resources.csv": {
        "key": ["unit", "period", "element", "measure"],
        "columns": ["unit", "period", "element", "measure", "value"],
        "required": False,
    },
    "context.csv": {
        "key": ["unit", "period", "variable"],
        "columns": ["unit", "period", "variable", "value"],
        "required": False,
    },
    "targets.csv": {
        "key": ["indicator", "unit", "period"],
        "columns": ["indicator", "unit", "period", "kind", "value", "baseline_period", "source"],
        "required": False,
    },
}
INDICATOR_KINDS = ("proportion", "rate", "ratio")
TARGET_KINDS = ("reduce_by_pct", "at_least", "at_most")
_TRUE = {"true", "yes", "1", "t", "y"}
_FALSE = {"false", "no", "0", "f", "n"}


@dataclass
class Panel:
    """A validated panel. Every table is a DataFrame with the columns of DESIGN.md section 3."""

    units: pd.DataFrame
    outcomes: pd.DataFrame
    indicators: pd.DataFrame
    resources: pd.DataFrame
    targets: pd.DataFrame
    context: pd.DataFrame
    policing_model: dict[str, dict[str, Any]]
    frequency: str
    name: str = "panel"
    source: str | None = None
    vintage: str = ""
    encodings: dict[str, str] = field(default_factory=dict)
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)

    # -- derived views -------------------------------------------------------------------------
    @property
    def periods(self) -> list[str]:
        """Every period that has an outcome or a resource, in time order."""
        values = set(self.outcomes["period"]) | set(self.resources["period"])
        return sorted(values)

    @property
    def context_variables(self) -> list[str]:
        """The numeric context columns of `units` (everything after unit, name, level, parent)."""
        return [c for c in self.units.columns if c not in CONTRACT["units.csv"]["columns"]]

    @property
    def elements(self) -> pd.DataFrame:
        """The Policing Model as a table: element, label, description, functions."""
        rows = [
            {
                "element": key,
                "label": spec.get("label", key),
                "description": spec.get("description", ""),
                "functions": ", ".join(spec.get("functions", []) or []),
            }
            for key, spec in self.policing_model.items()
        ]
        return pd.DataFrame(rows, columns=["element", "label", "description", "functions"])

    def indicator(self, indicator: str) -> dict[str, Any]:
        """The definition of one indicator as a dict; a clear error for an unknown name."""
        # Positions, not a filtered copy of the table: a review looks indicators up 27 times.
        hits = (self.indicators["indicator"].to_numpy() == indicator).nonzero()[0]
        if not len(hits):
            known = ", ".join(self.indicators["indicator"].head(20))
            raise PanelFormatError(
                f"unknown indicator {indicator!r} in panel {self.name!r}; known: {known}",
                file="indicators.csv",
                column="indicator",
                value=indicator,
            )
        return self.indicators.iloc[int(hits[0])].to_dict()

    def rates(self, indicator: str | None = None) -> pd.DataFrame:
        """Outcomes with their indicator definition and `rate` = numerator / denominator x multiplier."""
        out = self.outcomes
        if indicator is not None:
            self.indicator(indicator)
            out = out[out["indicator"] == indicator]
        out = out.merge(self.indicators, on="indicator", how="left")
        out["rate"] = out["numerator"] / out["denominator"] * out["multiplier"]
        return out.reset_index(drop=True)

    def subset(self, units: list[str] | None = None, periods: list[str] | None = None) -> Panel:
        """A panel restricted to some units and/or periods (reference tables kept)."""

        def keep(df: pd.DataFrame) -> pd.DataFrame:
            mask = pd.Series(True, index=df.index)
            if units is not None and "unit" in df:
                mask &= df["unit"].isin(units) | df["unit"].isna()
            if periods is not None and "period" in df:
                mask &= df["period"].isin(periods)
            return df[mask].reset_index(drop=True)

        return replace(
            self,
            units=keep(self.units),
            outcomes=keep(self.outcomes),
            resources=keep(self.resources),
            context=keep(self.context),
            targets=keep(self.targets),
        )

    def coverage(self) -> pd.DataFrame:
        """Per indicator: units, periods, first and last period, and cells missing from a full grid."""
        rows = []
        n_units = len(self.units)
        for ind, grp in self.outcomes.groupby("indicator", sort=True):
            periods = sorted(grp["period"].unique())
            have = grp.dropna(subset=["numerator", "denominator"])
            rows.append(
                {
                    "indicator": ind,
                    "units": grp["unit"].nunique(),
                    "periods": len(periods),
                    "first": periods[0],
                    "last": periods[-1],
                    "missing_cells": n_units * len(periods) - len(have),
                }
            )
        return pd.DataFrame(
            rows, columns=["indicator", "units", "periods", "first", "last", "missing_cells"]
        )

    def summary(self) -> str:
        """A readable summary: units, periods, elements, indicators and coverage gaps."""
        lines = [
            f"Panel {self.name!r}" + (f" ({self.source})" if self.source else ""),
            f"  units       {len(self.units)} ({', '.join(sorted(self.units['level'].unique()))})",
            f"  periods     {len(self.periods)} {self.frequency}"
            + (f", {self.periods[0]} .. {self.periods[-1]}" if self.periods else ""),
            f"  elements    {len(self.policing_model)} in the Policing Model",
        ]
        if self.resources.empty:
            lines.append("  resources   none (investment analysis needs a resources.csv)")
        else:
            measures = ", ".join(sorted(self.resources["measure"].unique()))
            lines.append(
                f"  resources   {len(self.resources):,} rows; measures: {measures}; "
                f"{self.resources['period'].min()} .. {self.resources['period'].max()}"
            )
        lines.append(f"  outcomes    {len(self.outcomes):,} rows, {len(self.indicators)} indicators")
        lines.append(f"  context     {', '.join(self.context_variables) or 'none'}")
        if not self.targets.empty:
            lines.append(f"  targets     {len(self.targets)}")
        unusual = {k: v for k, v in self.encodings.items() if v not in ("utf-8", "utf-8-sig")}
        for name, enc in unusual.items():
            lines.append(f"  note        {name} was read as {enc}, not UTF-8")
        lines.append("")
        lines.append("  indicator                        units periods  first    last     gaps")
        for row in self.coverage().itertuples():
            lines.append(
                f"  {row.indicator:<32} {row.units:>5} {row.periods:>7}  {row.first:<8} "
                f"{row.last:<8} {row.missing_cells:>4}"
            )
        return "\n".join(lines)


# -- reading ---------------------------------------------------------------------------------------


def _read_text(path: Path) -> tuple[str, str]:
    """The file's text and the encoding that decoded it: UTF-8 first, then cp1252, then latin-1."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig":
            encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
        return text, encoding
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _read_csv(path: Path) -> tuple[pd.DataFrame, str]:
    """All cells as stripped strings ('' for empty); the index is the spreadsheet row number."""
    import io

    text, encoding = _read_text(path)
    if not text.strip():
        raise PanelFormatError(
            f"{path.name}: the file is empty; expected a header row with columns "
            f"{', '.join(CONTRACT.get(path.name, {}).get('columns', []))}",
            file=path.name,
            row=1,
        )
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            skipinitialspace=True,
        )
    except pd.errors.ParserError as exc:
        raise PanelFormatError(
            f"{path.name}: not a valid CSV file ({exc}); expected comma-separated values with one "
            "header row",
            file=path.name,
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    df.index = df.index + 2  # row 1 is the header, as a spreadsheet shows it
    df = df.apply(lambda col: col.str.strip())
    # Blank lines (often trailing) are not data.
    df = df[(df != "").any(axis=1)]
    return df, encoding


def _check_columns(df: pd.DataFrame, file: str) -> None:
    for column in CONTRACT[file]["columns"]:
        if column not in df.columns:
            found = ", ".join(df.columns) or "nothing"
            raise PanelFormatError(
                f"{file}, row 1: missing column '{column}'; expected columns "
                f"{', '.join(CONTRACT[file]['columns'])}, found {found}",
                file=file,
                row=1,
                column=column,
            )


def _fail(file: str, row: Any, column: str, value: Any, expected: str) -> PanelFormatError:
    shown = "an empty cell" if value is None or value == "" or (
        isinstance(value, float) and math.isnan(value)
    ) else repr(value)
    return PanelFormatError(
        f"{file}, row {row}, column '{column}': expected {expected}, got {shown}",
        file=file,
        row=int(row) if row is not None else None,
        column=column,
        value=value,
    )


def _numbers(
    df: pd.DataFrame,
    file: str,
    column: str,
    *,
    allow_empty: bool,
    minimum: float | None = 0.0,
    strict_minimum: bool = False,
    whole: bool = False,
    hint: str = "",
) -> pd.Series:
    """Parse a column of numbers, failing at the first row that breaks the rule."""
    raw = df[column]
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        text = raw.astype(str).str.replace(",", "", regex=False).str.strip()
        text = text.where(~text.isin(["", "nan", "NaN", "<NA>", "None"]), None)
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna() & text.notna()
    else:
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
    what = "a whole number" if whole else "a number"
    if minimum is not None:
        what += f" {'>' if strict_minimum else '>='} {minimum:g}"
    if bad.any():
        i = bad.idxmax()
        raise _fail(file, i, column, raw[i], what + hint)
    if not allow_empty and values.isna().any():
        i = values.isna().idxmax()
        raise _fail(file, i, column, raw[i], what)
    finite = values.dropna()
    problems = ~pd.Series(finite.map(math.isfinite), index=finite.index, dtype=bool)
    if minimum is not None:
        problems |= (finite <= minimum) if strict_minimum else (finite < minimum)
    if whole:
        problems |= (finite % 1) != 0
    if problems.any():
        i = problems.idxmax()
        raise _fail(file, i, column, raw[i], what + hint)
    return values.astype(float)


def _text(df: pd.DataFrame, file: str, column: str, *, allow_empty: bool = False) -> pd.Series:
    values = df[column].astype("string").str.strip()
    if not allow_empty:
        empty = values.isna() | (values == "")
        if empty.any():
            i = empty.idxmax()
            raise _fail(file, i, column, "", "a value")
    return values.where(values != "", pd.NA).astype(object).where(lambda s: s.notna(), None)


def _check_unique(df: pd.DataFrame, file: str) -> None:
    key = CONTRACT[file]["key"]
    dup = df.duplicated(subset=key, keep=False)
    if dup.any():
        rows = df.index[dup]
        first, second = rows[0], rows[1]
        values = ", ".join(f"{k}={df.at[first, k]!r}" for k in key)
        raise PanelFormatError(
            f"{file}, row {second}, column '{key[-1]}': duplicate key ({values}) already on row "
            f"{first}; expected one row per {' x '.join(key)}",
            file=file,
            row=int(second),
            column=key[-1],
            value=df.at[second, key[-1]],
        )


def _check_known(df: pd.DataFrame, file: str, column: str, known: set, what: str) -> None:
    present = df[column].notna()
    unknown = present & ~df[column].isin(known)
    if unknown.any():
        i = unknown.idxmax()
        sample = ", ".join(sorted(map(str, known))[:8])
        raise _fail(file, i, column, df.at[i, column], f"a {what} defined in {_home(what)} ({sample}, ...)")


def _home(what: str) -> str:
    return {"unit": "units.csv", "indicator": "indicators.csv", "element": "policing_model.yaml"}[what]


def _check_periods(df: pd.DataFrame, file: str, column: str, frequency: str | None) -> None:
    values = df[column].dropna()
    for label in pd.unique(values):
        problem = period_problem(str(label), frequency)
        if problem:
            i = values.index[values == label][0]
            raise _fail(file, i, column, label, problem)


def _bools(df: pd.DataFrame, file: str, column: str) -> pd.Series:
    def parse(i: Any, v: Any) -> bool:
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise _fail(file, i, column, v, "true or false")

    return pd.Series([parse(i, v) for i, v in df[column].items()], index=df.index, dtype=bool)


def _choice(df: pd.DataFrame, file: str, column: str, choices: tuple[str, ...]) -> pd.Series:
    values = df[column].astype(str).str.strip()
    bad = ~values.isin(choices)
    if bad.any():
        i = bad.idxmax()
        raise _fail(file, i, column, df.at[i, column], "one of " + ", ".join(choices))
    return values.astype(object)


def _read_model(path: Path) -> dict[str, dict[str, Any]]:
    import yaml  # here, not at the top: a review kernel gets its panel from the cache, no YAML

    file = path.name
    try:
        text, _ = _read_text(path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise PanelFormatError(
            f"{file}{where}: not valid YAML ({getattr(exc, 'problem', exc)}); expected a mapping "
            "'elements:' of element id -> label, description, functions",
            file=file,
            row=mark.line + 1 if mark else None,
        ) from None
    return _check_model(data, file)


def _check_model(data: Any, file: str = "policing_model.yaml") -> dict[str, dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("elements"), dict) or not data["elements"]:
        raise PanelFormatError(
            f"{file}: expected a mapping 'elements:' of element id -> label, description, "
            f"functions; got {type(data).__name__ if not isinstance(data, dict) else 'no elements'}",
            file=file,
        )
    model = {}
    for key, spec in data["elements"].items():
        spec = spec or {}
        if not isinstance(spec, dict) or not spec.get("label"):
            raise PanelFormatError(
                f"{file}, element '{key}': expected a 'label' (and a description, functions)",
                file=file,
                column="label",
                value=key,
            )
        functions = spec.get("functions", []) or []
        if isinstance(functions, str):
            functions = [functions]
        model[str(key)] = {
            "label": str(spec["label"]),
            "description": str(spec.get("description", "")),
            "functions": [str(f) for f in functions],
            **{k: v for k, v in spec.items() if k not in ("label", "description", "functions")},
        }
    return model


def _empty(file: str) -> pd.DataFrame:
    """An optional table the panel does not have: its contract columns, no rows."""
    return pd.DataFrame({c: pd.Series(dtype=float if c == "value" else object)
                         for c in CONTRACT[file]["columns"]})


def _typed(tables: dict[str, pd.DataFrame], model: dict | None) -> dict[str, pd.DataFrame]:
    """Check and convert each table; tables are keyed by file name, indexed by spreadsheet row."""
    out: dict[str, pd.DataFrame] = {}

    # units.csv
    f = "units.csv"
    df = tables[f]
    _check_columns(df, f)
    units = pd.DataFrame(index=df.index)
    units["unit"] = _text(df, f, "unit")
    units["name"] = _text(df, f, "name", allow_empty=True)
    units["name"] = units["name"].where(units["name"].notna(), units["unit"])
    units["level"] = _text(df, f, "level")
    units["parent"] = _text(df, f, "parent", allow_empty=True)
    for column in [c for c in df.columns if c not in CONTRACT[f]["columns"]]:
        units[column] = _numbers(df, f, column, allow_empty=True, minimum=None,
                                 hint=" (context columns are numeric; leave the cell empty if unknown)")
    _check_unique(units, f)
    out[f] = units
    known_units = set(units["unit"])

    # indicators.csv
    f = "indicators.csv"
    df = tables[f]
    _check_columns(df, f)
    ind = pd.DataFrame(index=df.index)
    ind["indicator"] = _text(df, f, "indicator")
    ind["label"] = _text(df, f, "label", allow_empty=True)
    ind["label"] = ind["label"].where(ind["label"].notna(), ind["indicator"])
    ind["kind"] = _choice(df, f, "kind", INDICATOR_KINDS)
    ind["higher_is_better"] = _bools(df, f, "higher_is_better")
    mult = _numbers(df, f, "multiplier", allow_empty=True, minimum=0, strict_minimum=True)
    ind["multiplier"] = mult.fillna(1.0)
    # Optional: false when the numerator is not a count of events (e.g. a harm-weighted score),
    # so exact count tests do not apply to it.
    ind["counts"] = _bools(df, f, "counts") if "counts" in df.columns else True
    for column in [c for c in df.columns if c not in CONTRACT[f]["columns"] + ["counts"]]:
        ind[column] = df[column]
    _check_unique(ind, f)
    out[f] = ind
    kinds = dict(zip(ind["indicator"], ind["kind"]))

    # outcomes.csv
    f = "outcomes.csv"
    df = tables[f]
    _check_columns(df, f)
    oc = pd.DataFrame(index=df.index)
    oc["unit"] = _text(df, f, "unit")
    oc["period"] = _text(df, f, "period")
    oc["indicator"] = _text(df, f, "indicator")
    _check_known(oc, f, "unit", known_units, "unit")
    _check_known(oc, f, "indicator", set(kinds), "indicator")
    oc["numerator"] = _numbers(df, f, "numerator", allow_empty=True,
                               hint=" (leave the cell empty for a missing value)")
    oc["denominator"] = _numbers(df, f, "denominator", allow_empty=True, strict_minimum=True,
                                 hint=" (the population at risk; leave empty if missing)")
    is_prop = oc["indicator"].map(kinds) == "proportion"
    counts = is_prop & oc["numerator"].notna()
    fractional = counts & ((oc["numerator"] % 1) != 0)
    if fractional.any():
        i = fractional.idxmax()
        raise _fail(f, i, "numerator", df.at[i, "numerator"],
                    "a whole number (a count of cases for a proportion)")
    over = is_prop & (oc["numerator"] > oc["denominator"])
    if over.any():
        i = over.idxmax()
        raise _fail(f, i, "numerator", df.at[i, "numerator"],
                    f"a count no greater than the denominator ({df.at[i, 'denominator']}) "
                    f"for the proportion '{oc.at[i, 'indicator']}'")
    _check_unique(oc, f)
    out[f] = oc

    # resources.csv (optional)
    f = "resources.csv"
    if f in tables:
        df = tables[f]
        _check_columns(df, f)
        rs = pd.DataFrame(index=df.index)
        for c in ("unit", "period", "element", "measure"):
            rs[c] = _text(df, f, c)
        _check_known(rs, f, "unit", known_units, "unit")
        if model is None:
            raise PanelFormatError(
                "policing_model.yaml: missing file; resources.csv names Policing Model elements, "
                "so the panel needs a policing_model.yaml defining them",
                file="policing_model.yaml",
            )
        _check_known(rs, f, "element", set(model), "element")
        rs["value"] = _numbers(df, f, "value", allow_empty=False,
                               hint=" (resources are FTE or money, never negative)")
        _check_unique(rs, f)
        out[f] = rs
    else:
        out[f] = _empty(f)

    # context.csv (optional)
    f = "context.csv"
    if f in tables:
        df = tables[f]
        _check_columns(df, f)
        cx = pd.DataFrame(index=df.index)
        for c in ("unit", "period", "variable"):
            cx[c] = _text(df, f, c)
        _check_known(cx, f, "unit", known_units, "unit")
        cx["value"] = _numbers(df, f, "value", allow_empty=True, minimum=None)
        _check_unique(cx, f)
        out[f] = cx
    else:
        out[f] = _empty(f)

    # targets.csv (optional)
    f = "targets.csv"
    if f in tables:
        df = tables[f]
        _check_columns(df, f)
        tg = pd.DataFrame(index=df.index)
        tg["indicator"] = _text(df, f, "indicator")
        tg["unit"] = _text(df, f, "unit", allow_empty=True)
        tg["period"] = _text(df, f, "period")
        _check_known(tg, f, "indicator", set(kinds), "indicator")
        _check_known(tg, f, "unit", known_units, "unit")
        tg["kind"] = _choice(df, f, "kind", TARGET_KINDS)
        tg["value"] = _numbers(df, f, "value", allow_empty=False, minimum=None)
        tg["baseline_period"] = _text(df, f, "baseline_period", allow_empty=True)
        needs = (tg["kind"] == "reduce_by_pct") & tg["baseline_period"].isna()
        if needs.any():
            i = needs.idxmax()
            raise _fail(f, i, "baseline_period", "",
                        "a baseline period for a 'reduce_by_pct' target (the period the reduction "
                        "is measured from)")
        tg["source"] = _text(df, f, "source", allow_empty=True)
        _check_unique(tg, f)
        out[f] = tg
    else:
        out[f] = _empty(f)
    return out


def _check_all_periods(tables: dict[str, pd.DataFrame], frequency: str | None) -> str:
    """Every period column parses, and the panel uses one frequency throughout."""
    columns = [("outcomes.csv", "period"), ("resources.csv", "period"), ("context.csv", "period"),
               ("targets.csv", "period"), ("targets.csv", "baseline_period")]
    for f, c in columns:
        _check_periods(tables[f], f, c, None)
    if frequency is None:
        all_labels = pd.concat([tables[f][c].dropna() for f, c in columns], ignore_index=True)
        frequency = infer_frequency(all_labels)
        if frequency is None:
            # Mixed frequencies: point at the first label that disagrees with the outcomes'.
            frequency = infer_frequency(tables["outcomes.csv"]["period"]) or "annual"
    for f, c in columns:
        _check_periods(tables[f], f, c, frequency)
    return frequency


def _finish(tables: dict[str, pd.DataFrame], model: dict, frequency: str | None, **meta) -> Panel:
    typed = _typed(tables, model)
    freq = _check_all_periods(typed, frequency)
    frames = {k: v.reset_index(drop=True) for k, v in typed.items()}
    sort = {"units.csv": ["unit"], "indicators.csv": ["indicator"],
            "outcomes.csv": ["indicator", "unit", "period"],
            "resources.csv": ["unit", "period", "element", "measure"],
            "context.csv": ["unit", "period", "variable"], "targets.csv": ["indicator", "period"]}
    for k, cols in sort.items():
        if not frames[k].empty and k not in ("units.csv", "indicators.csv"):
            frames[k] = frames[k].sort_values(cols, kind="stable").reset_index(drop=True)
    return Panel(
        units=frames["units.csv"],
        outcomes=frames["outcomes.csv"],
        indicators=frames["indicators.csv"],
        resources=frames["resources.csv"],
        targets=frames["targets.csv"],
        context=frames["context.csv"],
        policing_model=model or {},
        frequency=freq,
        **meta,
    )


def read_panel(path: str | Path, frequency: str | None = None) -> Panel:
    """Read and validate a panel folder (DESIGN.md section 3).

    `frequency` ('annual', 'quarterly', 'monthly') overrides the inference from period labels,
    for the rare panel whose labels fit two ('2011-12' alone is a month and a financial year).

        >>> panel = read_panel("goodpractice/examples/forces")  # doctest: +SKIP
    """
    folder = Path(path)
    if not folder.is_dir():
        raise PanelFormatError(
            f"{folder}: not a folder; expected a panel folder holding units.csv, outcomes.csv, "
            "indicators.csv (and optionally resources.csv, policing_model.yaml, context.csv, "
            "targets.csv)",
            file=str(folder),
        )
    tables: dict[str, pd.DataFrame] = {}
    encodings: dict[str, str] = {}
    digest = hashlib.sha256()
    for name, spec in CONTRACT.items():
        file = folder / name
        if not file.exists():
            if spec["required"]:
                raise PanelFormatError(
                    f"{name}: missing file in {folder}; expected a CSV with columns "
                    f"{', '.join(spec['columns'])}",
                    file=name,
                )
            continue
        digest.update(name.encode() + file.read_bytes())
        tables[name], encodings[name] = _read_csv(file)
    model = None
    model_file = folder / "policing_model.yaml"
    if model_file.exists():
        digest.update(model_file.read_bytes())
        model = _read_model(model_file)
    extras = {}
    if (folder / "extras").is_dir():
        for extra in sorted((folder / "extras").glob("*.csv")):
            extras[extra.stem] = pd.read_csv(extra)
    return _finish(
        tables,
        model,
        frequency,
        name=folder.name,
        source=str(folder),
        vintage=digest.hexdigest()[:12],
        encodings=encodings,
        extras=extras,
    )


def _as_table(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.index = range(2, len(out) + 2)  # rows as a spreadsheet of this table would show them
    return out


def from_frames(
    *,
    units: pd.DataFrame,
    outcomes: pd.DataFrame,
    indicators: pd.DataFrame,
    resources: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
    context: pd.DataFrame | None = None,
    policing_model: dict | None = None,
    frequency: str | None = None,
    name: str = "panel",
) -> Panel:
    """Build and validate a panel from DataFrames; errors name the table as if it were its file.

        >>> from_frames(units=u, outcomes=o, indicators=i)  # doctest: +SKIP
    """
    tables = {"units.csv": _as_table(units), "outcomes.csv": _as_table(outcomes),
              "indicators.csv": _as_table(indicators)}
    for file, df in (("resources.csv", resources), ("targets.csv", targets),
                     ("context.csv", context)):
        if df is not None:
            tables[file] = _as_table(df)
    model = _check_model(
        {"elements": policing_model} if policing_model and "elements" not in policing_model
        else policing_model
    ) if policing_model else None
    if model is None and resources is not None and not resources.empty:
        # Frames built in code may skip the model: every element named becomes its own label.
        model = {str(e): {"label": str(e).replace("_", " ").capitalize(), "description": "",
                          "functions": []} for e in pd.unique(resources["element"])}
    digest = hashlib.sha256()
    for df in tables.values():
        digest.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return _finish(tables, model or {}, frequency, name=name, vintage=digest.hexdigest()[:12])


Panel.from_frames = staticmethod(from_frames)  # type: ignore[attr-defined]


EXAMPLES = ("forces", "london")


@cache
def _load_example_cached(name: str) -> Panel:
    return read_panel(EXAMPLES_DIR / name)


def load_example(name: str) -> Panel:
    """One of the embedded real datasets: 'forces' (43 forces) or 'london' (32 boroughs).

    Provenance and licence are in ``goodpractice/examples/<name>/PROVENANCE.md``.

        >>> panel = load_example("london")  # doctest: +SKIP
    """
    if name not in EXAMPLES:
        raise PanelFormatError(
            f"unknown example {name!r}; expected one of {', '.join(EXAMPLES)}", value=name
        )
    cached = _load_example_cached(name)
    # Callers may modify their frames; the cache must stay as read.
    return replace(
        cached,
        units=cached.units.copy(),
        outcomes=cached.outcomes.copy(),
        indicators=cached.indicators.copy(),
        resources=cached.resources.copy(),
        targets=cached.targets.copy(),
        context=cached.context.copy(),
        policing_model={k: dict(v) for k, v in cached.policing_model.items()},
        extras={k: v.copy() for k, v in cached.extras.items()},
    )
