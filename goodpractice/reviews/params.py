"""Review parameter files: read, validate and expand into one :class:`ReviewSpec` per review.

A parameter file (YAML) names a notebook and its parameters, optionally a batch::

    # parameters/unit_review_forces_2017-18.yaml
    notebook: unit_review            # a notebook in notebooks/ (or a path ending .ipynb,
                                     # relative to this file)
    title: "Unit review: {unit}, {period}"   # optional; {name} takes a parameter's value
    output_dir: reviews              # optional, relative to the output folder (default reviews)
    parameters:                      # fixed for every review of the file
      dataset: forces
      period: "2017-18"
    batch:                           # optional: one review per combination of these values
      unit: all                      # 'all' = every unit of the dataset, or a list [durham, kent]
      # period: {from: "2023-01", to: "2023-12"}   # a range over the dataset's periods

A file may instead hold ``reviews:`` - a list of such mappings - to mix notebooks.

Validation is strict where papermill is lenient: a parameter the notebook does not declare in its
``parameters`` cell is an error naming the file and the nearest declared name; values must match
the type annotation of the declaration (``unit: str = "durham"``); the notebook must exist; output
folders must stay inside the output folder. Every problem raises
:class:`goodpractice.errors.ParameterError`.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from goodpractice.errors import GoodPracticeError, ParameterError

#: Notebooks shipped with the repository (``notebooks/`` beside the package).
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: The keys a parameter file (or one entry of its ``reviews:`` list) may have.
FILE_KEYS = ("notebook", "title", "output_dir", "parameters", "batch")
#: Example dataset names accepted by a ``dataset`` parameter (besides a panel folder path).
EXAMPLES = ("forces", "london")


@dataclass(frozen=True)
class ReviewSpec:
    """One review to run: a notebook and the values of its parameters.

    >>> spec = ReviewSpec("unit_review", Path("notebooks/unit_review.ipynb"), {"unit": "durham"})
    >>> spec.parameters["unit"]
    'durham'
    """

    notebook: str
    notebook_path: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = "<spec>"
    output_dir: str = "reviews"
    title: str = ""

    def label(self) -> str:
        """The title, or notebook name and parameters when the file gave none."""
        if self.title:
            return self.title
        shown = ", ".join(f"{k}={v}" for k, v in self.parameters.items() if k != "dataset")
        return f"{self.notebook} ({shown})" if shown else self.notebook


# ---------------------------------------------------------------------------------------------
# Declared parameters of a notebook


@lru_cache(maxsize=64)
def _declared_cached(path: str, mtime_ns: int) -> dict[str, dict[str, Any]]:
    import papermill

    found = papermill.inspect_notebook(path)
    return {name: dict(p) for name, p in found.items()}


def declared_parameters(notebook_path: str | Path) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares: name -> {name, inferred_type_name, default, help}.

    Read with ``papermill.inspect_notebook`` from the cell tagged ``parameters``; cached until the
    file changes.
    """
    p = Path(notebook_path)
    return _declared_cached(str(p.resolve()), p.stat().st_mtime_ns)


def resolve_notebook(name: str, base: Path, notebooks_dir: Path | None, where: str) -> Path:
    """The file of notebook ``name``: a path ending ``.ipynb`` (relative to ``base``) or a name
    in ``notebooks_dir``."""
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"{where}: 'notebook' must be a notebook name such as 'unit_review'")
    if name.endswith(".ipynb"):
        path = Path(name) if Path(name).is_absolute() else base / name
        if not path.is_file():
            raise ParameterError(f"{where}: notebook file {name!r} not found (looked at {path})")
        return path
    folder = notebooks_dir or NOTEBOOKS_DIR
    path = folder / f"{name}.ipynb"
    if path.is_file():
        return path
    known = sorted(p.stem for p in folder.glob("*.ipynb"))
    hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else "."
    raise ParameterError(
        f"{where}: unknown notebook {name!r}{suggestion} Notebooks in {folder}: "
        f"{', '.join(known) or 'none'}"
    )


# ---------------------------------------------------------------------------------------------
# Types

_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def _type_ok(value: Any, type_name: str) -> bool:
    """Does ``value`` (from YAML) fit a parameter annotated ``type_name``?

    Understands the annotations the notebooks use: str, int, float, bool, list, dict,
    list[str] / list[int] ..., ``X | None`` and ``Optional[X]``. Unknown annotations accept anything.
    """
    t = type_name.replace(" ", "")
    if t in ("", "None", "Any", "object"):
        return True
    if t.startswith("Optional[") and t.endswith("]"):
        return value is None or _type_ok(value, t[len("Optional[") : -1])
    if "|" in t:
        return any(_type_ok(value, part) for part in t.split("|"))
    if t == "NoneType":
        return value is None
    base, _, inner = t.partition("[")
    if inner and base in ("list", "List", "tuple", "Tuple"):
        return isinstance(value, list) and all(_type_ok(v, inner[:-1]) for v in value)
    if inner and base in ("dict", "Dict"):
        return isinstance(value, dict)
    allowed = _SCALARS.get(base)
    if allowed is None:
        return True
    if isinstance(value, bool) and bool not in allowed:
        return False  # YAML 'yes' is a bool, never a number or a string
    return isinstance(value, allowed)


def _type_hint(value: Any, type_name: str) -> str:
    if type_name.replace(" ", "").startswith("str") and isinstance(value, (int, float)):
        return " - put it in quotes, e.g. '2017-18' or '2023-01', so YAML keeps it as text"
    return ""


# ---------------------------------------------------------------------------------------------
# Datasets (for 'all' and period ranges in a batch, and for the data vintage)


def open_dataset(dataset: str):
    """The panel a review reads: an example name ('forces', 'london') or a panel folder.

    >>> panel = open_dataset("forces")  # doctest: +SKIP
    """
    from goodpractice.cache import cache_location, read_panel_cached
    from goodpractice.panel import EXAMPLES_DIR, load_example, read_panel

    if cache_location() is not None:  # in a batch: the panel as the first review read it
        return read_panel_cached(EXAMPLES_DIR / dataset if dataset in EXAMPLES else dataset)
    return load_example(dataset) if dataset in EXAMPLES else read_panel(dataset)


@lru_cache(maxsize=8)
def _panel(dataset: str):
    return open_dataset(dataset)


def data_vintage(parameters: dict[str, Any]) -> str:
    """The vintage (hash of the data files) of the review's ``dataset``; '' when it has none."""
    dataset = parameters.get("dataset")
    if not isinstance(dataset, str):
        return ""
    return str(getattr(_panel(dataset), "vintage", ""))


def _domain(name: str, dataset: Any, where: str) -> list[Any]:
    """The values 'all' stands for, for batch key ``name``."""
    if not isinstance(dataset, str):
        raise ParameterError(
            f"{where}: batch {name}: 'all' and ranges need a 'dataset' parameter to list values from"
        )
    try:
        panel = _panel(dataset)
    except GoodPracticeError as exc:
        raise ParameterError(f"{where}: dataset {dataset!r} cannot be read: {exc}") from exc
    if name == "unit":
        return [str(u) for u in panel.units["unit"]]
    if name == "period":
        return list(panel.periods)
    if name == "indicator":
        return [str(i) for i in panel.indicators["indicator"]]
    if name in ("cluster", "parent"):
        return sorted(str(p) for p in panel.units["parent"].dropna().unique())
    raise ParameterError(
        f"{where}: batch {name}: 'all' is only understood for unit, period, indicator and cluster"
    )


def _expand_values(name: str, values: Any, fixed: dict[str, Any], where: str) -> list[Any]:
    if isinstance(values, list):
        if not values:
            raise ParameterError(f"{where}: batch {name}: the list of values is empty")
        return values
    if values == "all":
        return _domain(name, fixed.get("dataset"), where)
    if isinstance(values, dict):
        unknown = set(values) - {"from", "to"}
        if unknown or not values:
            raise ParameterError(
                f"{where}: batch {name}: a range is {{from: ..., to: ...}}, got keys {sorted(values)}"
            )
        domain = _domain(name, fixed.get("dataset"), where)
        lo, hi = values.get("from"), values.get("to")
        for bound in (lo, hi):
            if bound is not None and not isinstance(bound, str):
                raise ParameterError(
                    f"{where}: batch {name}: range bounds must be quoted text such as '2023-01', "
                    f"got {bound!r}"
                )
        chosen = [v for v in domain if (lo is None or v >= lo) and (hi is None or v <= hi)]
        if not chosen:
            raise ParameterError(
                f"{where}: batch {name}: no value of the dataset falls in {lo!r}..{hi!r} "
                f"(it has {domain[0]!r}..{domain[-1]!r})"
            )
        return chosen
    raise ParameterError(
        f"{where}: batch {name}: expected a list of values, 'all' or {{from: ..., to: ...}}, "
        f"got {values!r}"
    )


# ---------------------------------------------------------------------------------------------
# Output folders


def safe_output_dir(out_dir: str | Path, relative: Any, where: str = "<spec>") -> Path:
    """``out_dir / relative``, refusing anything that would write outside ``out_dir``.

    Absolute paths, ``..`` and symlinks that lead outside are all rejected.

    >>> safe_output_dir("/tmp/out", "reviews").name
    'reviews'
    """
    if not isinstance(relative, str) or not relative.strip():
        raise ParameterError(f"{where}: output_dir must be a relative folder name such as 'reviews'")
    rel = Path(relative)
    if rel.is_absolute() or relative.startswith("~"):
        raise ParameterError(
            f"{where}: output_dir {relative!r} is absolute; give a folder relative to the output "
            f"folder, e.g. 'reviews'"
        )
    if ".." in rel.parts:
        raise ParameterError(
            f"{where}: output_dir {relative!r} contains '..'; it must stay inside the output folder"
        )
    root = Path(out_dir).resolve()
    target = (root / rel).resolve()  # follows symlinks that already exist
    if not target.is_relative_to(root):
        raise ParameterError(
            f"{where}: output_dir {relative!r} leads outside the output folder {root} "
            f"(to {target}, through a symbolic link)"
        )
    return target


# ---------------------------------------------------------------------------------------------
# Files and specs


def _check_names(
    names: Any, declared: dict[str, dict[str, Any]], where: str, notebook: str
) -> None:
    for name in names:
        if name not in declared:
            hint = difflib.get_close_matches(str(name), list(declared), n=1, cutoff=0.5)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else "."
            raise ParameterError(
                f"{where}: unknown parameter {name!r} for notebook {notebook!r}{suggestion} "
                f"Declared parameters: {', '.join(declared) or 'none'}"
            )


def _check_parameters(
    params: dict[str, Any], declared: dict[str, dict[str, Any]], where: str, notebook: str
) -> None:
    _check_names(params, declared, where, notebook)
    for name, value in params.items():
        type_name = str(declared[name].get("inferred_type_name") or "None")
        if not _type_ok(value, type_name):
            raise ParameterError(
                f"{where}: parameter {name!r} of notebook {notebook!r} must be {type_name}, got "
                f"{type(value).__name__} {value!r}{_type_hint(value, type_name)}"
            )


def _expand_entry(
    entry: Any, where: str, base: Path, notebooks_dir: Path | None, out_dir: Path | None
) -> list[ReviewSpec]:
    if not isinstance(entry, dict):
        raise ParameterError(f"{where}: expected a mapping with 'notebook' and 'parameters'")
    unknown = [k for k in entry if k not in FILE_KEYS]
    if unknown:
        hint = difflib.get_close_matches(str(unknown[0]), FILE_KEYS, n=1, cutoff=0.5)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else "."
        raise ParameterError(
            f"{where}: unknown key {unknown[0]!r}{suggestion} A parameter file has keys "
            f"{', '.join(FILE_KEYS)}"
        )
    if "notebook" not in entry:
        raise ParameterError(f"{where}: missing 'notebook' (e.g. notebook: unit_review)")
    name = entry["notebook"]
    path = resolve_notebook(name, base, notebooks_dir, where)
    declared = declared_parameters(path)
    fixed = entry.get("parameters") or {}
    batch = entry.get("batch") or {}
    for key, value in (("parameters", fixed), ("batch", batch)):
        if not isinstance(value, dict):
            raise ParameterError(f"{where}: '{key}' must be a mapping of name: value")
    output_dir = entry.get("output_dir", "reviews")
    safe_output_dir(out_dir if out_dir is not None else Path.cwd(), output_dir, where)
    title = entry.get("title") or ""
    if not isinstance(title, str):
        raise ParameterError(f"{where}: 'title' must be text")

    # Names first, so a typo in the batch is reported before any dataset is read.
    _check_parameters(fixed, declared, where, Path(name).stem)
    for key in batch:
        if key in fixed:
            raise ParameterError(f"{where}: {key!r} is given both in 'parameters' and in 'batch'")
        _check_names([key], declared, where, Path(name).stem)
    # A dataset given as a relative folder is read relative to the parameter file.
    if isinstance(fixed.get("dataset"), str) and fixed["dataset"] not in EXAMPLES:
        fixed = {**fixed, "dataset": str((base / fixed["dataset"]).resolve())}

    keys = list(batch)
    value_lists = [_expand_values(k, batch[k], fixed, where) for k in keys]
    specs = []
    for combo in itertools.product(*value_lists) if keys else [()]:
        params = {**fixed, **dict(zip(keys, combo))}
        _check_parameters(params, declared, where, Path(name).stem)
        try:
            shown_title = title.format(**params) if title else ""
        except (KeyError, IndexError, ValueError) as exc:
            raise ParameterError(f"{where}: title {title!r} cannot be filled in: {exc}") from exc
        specs.append(
            ReviewSpec(
                notebook=Path(name).stem,
                notebook_path=path.resolve(),
                parameters=params,
                source=where,
                output_dir=output_dir,
                title=shown_title,
            )
        )
    return specs


def load_parameter_file(
    path: str | Path, notebooks_dir: Path | None = None, out_dir: str | Path | None = None
) -> list[ReviewSpec]:
    """Read, validate and expand one YAML parameter file into its reviews.

    >>> specs = load_parameter_file("parameters/unit_review_forces.yaml")  # doctest: +SKIP
    >>> len(specs)  # doctest: +SKIP
    43
    """
    import yaml  # here, not at the top: review kernels import this package and read no YAML

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ParameterError(f"{where}: parameter file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"{where}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{where}: not UTF-8 text: {exc}") from exc
    return expand_spec(data, where=where, base=path.parent, notebooks_dir=notebooks_dir,
                       out_dir=out_dir)


def expand_spec(
    data: Any,
    where: str = "<spec>",
    base: Path | None = None,
    notebooks_dir: Path | None = None,
    out_dir: str | Path | None = None,
) -> list[ReviewSpec]:
    """Validate and expand the content of a parameter file (a dict, as YAML gives it).

    >>> expand_spec({"notebook": "unit_review", "parameters": {"unit": "durham"}})  # doctest: +SKIP
    """
    base = base or Path.cwd()
    out = Path(out_dir) if out_dir is not None else None
    if isinstance(data, dict) and "reviews" in data:
        if set(data) != {"reviews"} or not isinstance(data["reviews"], list):
            raise ParameterError(f"{where}: 'reviews' must be the only key, holding a list")
        specs: list[ReviewSpec] = []
        for i, entry in enumerate(data["reviews"], start=1):
            specs.extend(_expand_entry(entry, f"{where} (review {i})", base, notebooks_dir, out))
        return specs
    return _expand_entry(data, where, base, notebooks_dir, out)


def load_specs(
    items: Any, notebooks_dir: Path | None = None, out_dir: str | Path | None = None
) -> list[ReviewSpec]:
    """Parameter files (paths), spec dicts or :class:`ReviewSpec` objects -> a flat list of specs."""
    if isinstance(items, (str, os.PathLike, dict, ReviewSpec)):
        items = [items]
    specs: list[ReviewSpec] = []
    for item in items:
        if isinstance(item, ReviewSpec):
            specs.append(item)
        elif isinstance(item, dict):
            specs.extend(expand_spec(item, notebooks_dir=notebooks_dir, out_dir=out_dir))
        elif isinstance(item, (str, os.PathLike)):
            specs.extend(load_parameter_file(item, notebooks_dir=notebooks_dir, out_dir=out_dir))
        else:
            raise ParameterError(
                f"expected a parameter file path, a spec dict or a ReviewSpec, got {item!r}"
            )
    return specs


def canonical_parameters(parameters: dict[str, Any]) -> str:
    """Parameters as canonical JSON (sorted keys): the form hashed and stored in the KB."""
    return json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)
