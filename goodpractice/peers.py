"""Most similar peers: each unit's k nearest units on standardised context variables.

As the Home Office "most similar groups" of forces: every unit gets its own group
(unit-centred, so A can be among B's peers while B is not among A's). Context variables are
z-scored (scikit-learn's StandardScaler), optionally weighted, and distances are Euclidean
(scikit-learn's NearestNeighbors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError

# Key and label columns of the units table: never context variables.
_NOT_CONTEXT = ("unit", "name", "level", "parent")


def _units_table(panel: Any) -> pd.DataFrame:
    if isinstance(panel, pd.DataFrame):
        units = panel
    elif hasattr(panel, "units"):
        units = panel.units
    else:
        raise GoodPracticeError(
            f"peers needs a Panel or a DataFrame of units; got {type(panel).__name__}"
        )
    if "unit" not in units.columns:
        raise GoodPracticeError("the units table needs a 'unit' column naming each unit")
    dup = units["unit"][units["unit"].duplicated()]
    if not dup.empty:
        raise GoodPracticeError(f"unit {dup.iloc[0]!r} appears more than once in the units table")
    return units


def _default_variables(panel: Any, units: pd.DataFrame) -> list[str]:
    if not isinstance(panel, pd.DataFrame) and hasattr(panel, "context_variables"):
        candidates = list(panel.context_variables)
    else:
        candidates = [c for c in units.columns if c not in _NOT_CONTEXT]
    numeric = [c for c in candidates if pd.api.types.is_numeric_dtype(units[c])]
    # Only complete columns by default: a variable missing for one unit cannot place it.
    complete = [c for c in numeric if units[c].notna().all()]
    if not complete:
        raise GoodPracticeError(
            "no numeric context variable is complete for every unit "
            f"(numeric columns: {', '.join(numeric) or 'none'}); pass variables=[...] "
            "and impute='median' to fill gaps explicitly"
        )
    return complete


def _matrix(
    panel: Any,
    variables: Sequence[str] | None,
    weights: Mapping[str, float] | None,
    impute: Literal["median"] | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sorted unit keys, the weighted z-score matrix, and the variables used."""
    from sklearn.preprocessing import StandardScaler  # lazy: keeps `import goodpractice` light
    units = _units_table(panel)
    if variables is None:
        variables = _default_variables(panel, units)
    variables = list(variables)
    if not variables:
        raise GoodPracticeError("variables is empty: name at least one context variable")
    missing = [v for v in variables if v not in units.columns]
    if missing:
        raise GoodPracticeError(
            f"context variable(s) {', '.join(map(repr, missing))} not in the units table; "
            f"available: {', '.join(c for c in units.columns if c not in _NOT_CONTEXT)}"
        )
    # Sorting by unit makes the result independent of row order (ties break by unit key).
    units = units.sort_values("unit", kind="stable")
    keys = units["unit"].astype(str).to_numpy()
    frame = units[variables].apply(pd.to_numeric, errors="coerce")
    if impute is None:
        gaps = frame.isna().to_numpy()
        if gaps.any():
            i, j = map(int, np.argwhere(gaps)[0])
            raise GoodPracticeError(
                f"unit {keys[i]!r} has no value for context variable {variables[j]!r}; "
                "drop the variable, supply the value, or pass impute='median'"
            )
    elif impute == "median":
        frame = frame.fillna(frame.median())
        if frame.isna().any().any():
            empty = frame.columns[frame.isna().any()][0]
            raise GoodPracticeError(f"context variable {empty!r} has no values at all")
    else:
        raise GoodPracticeError(f"impute must be None or 'median'; got {impute!r}")
    x = StandardScaler().fit_transform(frame.to_numpy(dtype=float))
    if weights:
        unknown = set(weights) - set(variables)
        if unknown:
            raise GoodPracticeError(
                f"weights name variable(s) not used: {', '.join(sorted(unknown))}"
            )
        w = np.array([float(weights.get(v, 1.0)) for v in variables])
        if (w < 0).any() or not np.isfinite(w).all():
            raise GoodPracticeError("weights must be finite numbers >= 0")
        # Weighted Euclidean distance: sqrt(sum w_j dz_j^2), so each column scales by sqrt(w_j).
        x = x * np.sqrt(w)
    return keys, x, variables


def peers(
    panel: Any,
    k: int = 7,
    variables: Sequence[str] | None = None,
    weights: Mapping[str, float] | None = None,
    impute: Literal["median"] | None = None,
) -> pd.DataFrame:
    """Each unit's k most similar units on standardised context variables.

    `panel` is a Panel (its ``units`` table) or a DataFrame with a ``unit`` column. By default
    the variables are every numeric context column complete for all units (``population``,
    ``density``, ...); a named variable missing for a unit raises GoodPracticeError naming both,
    unless ``impute='median'`` fills gaps with the column median. `weights` maps variable to a
    weight (default 1) in the squared distance.

    Returns unit, peer, rank (1 = most similar), distance, sorted by unit and rank.
    ``attrs["variables"]`` lists the variables used.

        >>> u = pd.DataFrame({"unit": list("abcd"), "population": [1, 2, 3, 10]})
        >>> peers(u, k=1)["peer"].tolist()
        ['b', 'a', 'b', 'c']
    """
    from sklearn.neighbors import NearestNeighbors  # lazy: keeps `import goodpractice` light
    keys, x, used = _matrix(panel, variables, weights, impute)
    n = len(keys)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise GoodPracticeError(f"k must be a whole number >= 1; got {k!r}")
    if k >= n:
        raise GoodPracticeError(
            f"k = {k} peers needs at least {k + 1} units; the table has {n}"
        )
    # Ask for one extra neighbour (the unit itself), plus a few more so distance ties at the
    # boundary can be broken by unit key rather than by the search tree's internal order.
    m = min(n, k + 1 + 3)
    nn = NearestNeighbors(n_neighbors=m).fit(x)
    dist, idx = nn.kneighbors(x)
    rows = np.arange(n)[:, None]
    is_self = idx == rows
    # Self first, then by distance, then by position (= unit key order).
    order = np.lexsort((idx, np.round(dist, 12), ~is_self), axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1)
    self_found = idx[:, 0] == np.arange(n)
    # A unit with more than m exact duplicates may lose itself from the list: drop the last.
    idx = np.where(self_found[:, None], idx[:, 1 : k + 1], idx[:, :k])
    dist = np.where(self_found[:, None], dist[:, 1 : k + 1], dist[:, :k])
    out = pd.DataFrame({
        "unit": np.repeat(keys, k),
        "peer": keys[idx.ravel()],
        "rank": np.tile(np.arange(1, k + 1), n),
        "distance": dist.ravel(),
    })
    out.attrs["variables"] = used
    out.attrs["k"] = k
    return out


def peer_groups(peer_df: pd.DataFrame) -> dict[str, list[str]]:
    """unit -> its peers in rank order, from a :func:`peers` result."""
    return {u: list(g["peer"]) for u, g in peer_df.groupby("unit", sort=False)}


def peer_sensitivity(
    panel: Any,
    unit: str,
    ks: Sequence[int] = (5, 7, 10),
    variable_sets: Mapping[str, Sequence[str]] | Sequence[Sequence[str]] | None = None,
    indicator: str | None = None,
    period: str | None = None,
    k: int = 7,
) -> pd.DataFrame:
    """How a unit's peer group, and optionally its verdict against it, changes with k and variables.

    Scenarios: the default variables with each k in `ks`, then each variable set in
    `variable_sets` (a dict name -> variables, or a list) with the default `k`. The first row is
    the reference: default variables and `k`. With `indicator` and `period` (and a Panel) each row
    also gives the peer-group value, the exact test's p and the verdict from
    :func:`goodpractice.compare.compare`.

    Returns scenario, unit, k, variables (comma-separated), peers (comma-separated, rank order),
    n_peers, overlap (share of the reference peers still present), added, dropped, and with an
    indicator: value, peer_value, peer_p, peer_verdict.

        >>> u = pd.DataFrame({"unit": list("abcdefghijkl"), "x": range(12), "y": range(12)})
        >>> peer_sensitivity(u, "a", ks=(3, 5))["k"].tolist()
        [7, 3, 5]
    """
    units = _units_table(panel)
    if unit not in set(units["unit"].astype(str)):
        raise GoodPracticeError(f"unit {unit!r} is not in the units table")
    scenarios: list[tuple[str, int, list[str] | None]] = [("reference", k, None)]
    scenarios += [(f"k={kk}", int(kk), None) for kk in ks if kk != k]
    if variable_sets:
        named = (variable_sets.items() if isinstance(variable_sets, Mapping)
                 else ((", ".join(v), v) for v in variable_sets))
        scenarios += [(str(name), k, list(v)) for name, v in named]
    if (indicator is None) != (period is None):
        raise GoodPracticeError("pass both indicator and period to see the verdict, or neither")
    rows = []
    ref: list[str] | None = None
    for name, kk, variables in scenarios:
        p = peers(panel, k=kk, variables=variables)
        group = list(p.loc[p["unit"] == unit, "peer"])
        if ref is None:
            ref = group
        row = {
            "scenario": name, "unit": unit, "k": kk,
            "variables": ", ".join(p.attrs["variables"]), "peers": ", ".join(group),
            "n_peers": len(group),
            "overlap": len(set(group) & set(ref)) / len(ref),
            "added": ", ".join(g for g in group if g not in ref),
            "dropped": ", ".join(g for g in ref if g not in group),
        }
        if indicator is not None:
            from goodpractice.compare import compare  # compare imports peers: import late

            c = compare(panel, indicator, period, peer_table=p)
            c = c[c["unit"] == unit]
            if c.empty:
                raise GoodPracticeError(
                    f"unit {unit!r} has no {indicator!r} outcome in period {period!r}"
                )
            c = c.iloc[0]
            row.update({"value": c["value"], "peer_value": c["peer_value"],
                        "peer_p": c["peer_p"], "peer_verdict": c["peer_verdict"]})
        rows.append(row)
    return pd.DataFrame(rows)
