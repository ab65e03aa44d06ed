"""Efficiency frontier: data envelopment analysis (DEA), radial, CRS or VRS, input or output oriented.

For each unit the radial LP (Charnes-Cooper-Rhodes 1978; Banker-Charnes-Cooper 1984 with
sum(lambda) = 1 for variable returns to scale) gives its efficiency; a second LP maximises the
remaining slacks at that radial target, and its lambdas name the peers - the efficient units whose
combination does what this unit does with less (or does more with the same): who to visit.
Super-efficiency (Andersen-Petersen 1993) re-solves without the unit itself, to rank efficient units.
Solved with scipy's `linprog` (HiGHS). Reproduces DataEnvelopmentAnalysis.jl / R Benchmarking
(tests/data/reference/02_dea_radial).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from goodpractice.errors import GoodPracticeError

# A lambda below this is solver noise, not a peer.
LAMBDA_TOL = 1e-9
SLACK_TOL = 1e-9


def _frame(data, what: str) -> pd.DataFrame:
    if isinstance(data, pd.Series):
        data = data.to_frame(data.name or what)
    if not isinstance(data, pd.DataFrame) or data.shape[1] == 0:
        raise GoodPracticeError(f"frontier: {what} must be a DataFrame indexed by unit, one column each")
    numeric = data.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & data.notna()
    if bad.any().any():
        col = bad.any()[bad.any()].index[0]
        unit = bad[col][bad[col]].index[0]
        raise GoodPracticeError(f"frontier: {what} column {col!r}, unit {unit!r}: "
                                f"{data.loc[unit, col]!r} is not a number")
    infinite = numeric.isin([np.inf, -np.inf])
    if infinite.any().any():
        col = infinite.any()[infinite.any()].index[0]
        unit = infinite[col][infinite[col]].index[0]
        raise GoodPracticeError(f"frontier: {what} column {col!r}, unit {unit!r}: "
                                f"{numeric.loc[unit, col]:g} is not a finite number")
    missing = numeric.isna()
    if missing.any().any():
        col = missing.any()[missing.any()].index[0]
        units = list(missing[col][missing[col]].index[:5])
        raise GoodPracticeError(f"frontier: {what} column {col!r} is missing for units {units}; "
                                "drop those units or fill the values")
    if not numeric.index.is_unique:
        raise GoodPracticeError(f"frontier: {what} has duplicate units in its index")
    return numeric.astype(float)


def _radial(x, y, o, rts, orientation, exclude_self=False):
    """Stage 1: theta (input) or phi (output) for unit o; lambdas; None when infeasible."""
    from scipy.optimize import linprog  # lazy: keeps `import goodpractice` light
    n, m = x.shape
    s = y.shape[1]
    cols = [j for j in range(n) if not (exclude_self and j == o)]
    xs, ys = x[cols], y[cols]
    k = len(cols)
    c = np.zeros(1 + k)
    if orientation == "input":
        c[0] = 1.0  # min theta
        a_in = np.hstack([-x[o][:, None], xs.T])  # sum l x - theta x_o <= 0
        b_in = np.zeros(m)
        a_out = np.hstack([np.zeros((s, 1)), -ys.T])  # -sum l y <= -y_o
        b_out = -y[o]
    else:
        c[0] = -1.0  # max phi
        a_in = np.hstack([np.zeros((m, 1)), xs.T])  # sum l x <= x_o
        b_in = x[o]
        a_out = np.hstack([y[o][:, None], -ys.T])  # phi y_o - sum l y <= 0
        b_out = np.zeros(s)
    a_eq = b_eq = None
    if rts == "vrs":
        a_eq = np.hstack([[0.0], np.ones(k)])[None, :]
        b_eq = [1.0]
    bounds = [(None, None)] + [(0, None)] * k
    res = linprog(c, A_ub=np.vstack([a_in, a_out]), b_ub=np.concatenate([b_in, b_out]),
                  A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        return None, None
    lam = np.zeros(n)
    lam[cols] = res.x[1:]
    return float(res.x[0]), lam


def _slacks(x, y, o, score, rts, orientation):
    """Stage 2: maximise the sum of slacks at the radial target; returns lambdas, input and output slacks."""
    from scipy.optimize import linprog  # lazy: keeps `import goodpractice` light
    n, m = x.shape
    s = y.shape[1]
    x_target = score * x[o] if orientation == "input" else x[o]
    y_target = y[o] if orientation == "input" else score * y[o]
    c = np.concatenate([np.zeros(n), -np.ones(m), -np.ones(s)])
    a_eq = np.vstack([
        np.hstack([x.T, np.eye(m), np.zeros((m, s))]),   # sum l x + s_x = x target
        np.hstack([y.T, np.zeros((s, m)), -np.eye(s)]),  # sum l y - s_y = y target
    ])
    b_eq = np.concatenate([x_target, y_target])
    if rts == "vrs":
        a_eq = np.vstack([a_eq, np.concatenate([np.ones(n), np.zeros(m + s)])])
        b_eq = np.append(b_eq, 1.0)
    res = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * (n + m + s), method="highs")
    if res.status != 0:
        raise GoodPracticeError(f"frontier: the slack stage failed for unit {o}: {res.message}")
    return res.x[:n], res.x[n:n + m], res.x[n + m:]


def frontier(
    inputs: pd.DataFrame,
    outputs: pd.DataFrame,
    rts: Literal["crs", "vrs"] = "crs",
    orientation: Literal["input", "output"] = "input",
    super_efficiency: bool = False,
) -> pd.DataFrame:
    """DEA efficiency of each unit, with its peers, lambdas, slacks and targets.

    `inputs` and `outputs` are DataFrames indexed by unit (one column per input / output).
    Columns returned: unit, efficiency (in (0, 1]; 1 = on the frontier), radial (the Farrell
    measure: theta for input orientation, phi >= 1 for output orientation, as R Benchmarking
    reports it), efficient (radially efficient and no slack), peers (units with lambda > 0),
    lambdas (dict peer -> lambda), slack_<column> and target_<column> for every input and output,
    and super_efficiency when asked (Andersen-Petersen; > 1 ranks efficient units, NaN when the
    VRS problem without the unit is infeasible). The long form of the peers is in
    `result.attrs["peers"]` and from `frontier_peers(result)`.

    >>> eff = frontier(fte_per_element, outcomes, rts="vrs")      # doctest: +SKIP
    >>> eff[["unit", "efficiency", "peers"]]                      # doctest: +SKIP
    """
    if rts not in ("crs", "vrs"):
        raise GoodPracticeError(f"frontier: rts must be 'crs' or 'vrs', got {rts!r}")
    if orientation not in ("input", "output"):
        raise GoodPracticeError(f"frontier: orientation must be 'input' or 'output', got {orientation!r}")
    xin, yout = _frame(inputs, "inputs"), _frame(outputs, "outputs")
    if set(xin.index) != set(yout.index):
        only = sorted(set(xin.index) ^ set(yout.index), key=str)[:5]
        raise GoodPracticeError(f"frontier: inputs and outputs must cover the same units; "
                                f"these are in one only: {only}")
    yout = yout.loc[xin.index]
    if len(xin) < 2:
        raise GoodPracticeError("frontier: at least two units are needed")
    nonpos = xin.le(0).any(axis=1)
    if nonpos.any():
        raise GoodPracticeError(
            f"frontier: inputs must be positive; units {list(xin.index[nonpos][:5])} have a zero "
            "or negative input - DEA compares what units use, and a zero input has no ratio"
        )
    if yout.lt(0).any().any():
        raise GoodPracticeError(f"frontier: outputs must be >= 0; units "
                                f"{list(yout.index[yout.lt(0).any(axis=1)][:5])} have a negative one")
    no_out = yout.le(0).all(axis=1)
    if no_out.any():
        raise GoodPracticeError(f"frontier: units {list(yout.index[no_out][:5])} have no positive "
                                "output; drop them (they cannot be compared)")
    # Scale each column by its mean: the scores are unit-free, and the LP is better conditioned.
    sx, sy = xin.mean(), yout.mean()
    x, y = (xin / sx).to_numpy(), (yout / sy).to_numpy()
    units = list(xin.index)
    rows, peers_long = [], []
    for o, unit in enumerate(units):
        score, _ = _radial(x, y, o, rts, orientation)
        if score is None:
            raise GoodPracticeError(f"frontier: the radial problem for unit {unit!r} has no solution")
        lam, s_x, s_y = _slacks(x, y, o, score, rts, orientation)
        s_x = np.where(s_x > SLACK_TOL, s_x, 0.0) * sx.to_numpy()
        s_y = np.where(s_y > SLACK_TOL, s_y, 0.0) * sy.to_numpy()
        lam = np.where(lam > LAMBDA_TOL, lam, 0.0)
        eff = score if orientation == "input" else 1.0 / score
        row = {
            "unit": unit,
            "efficiency": eff,
            "radial": score,
            "efficient": bool(abs(eff - 1) < 1e-8 and not (s_x.any() or s_y.any())),
            "peers": [units[j] for j in np.flatnonzero(lam)],
            "lambdas": {units[j]: float(lam[j]) for j in np.flatnonzero(lam)},
        }
        xo, yo = xin.iloc[o].to_numpy(), yout.iloc[o].to_numpy()
        x_t = (score * xo if orientation == "input" else xo) - s_x
        y_t = (yo if orientation == "input" else score * yo) + s_y
        for col, v in zip(xin.columns, s_x):
            row[f"slack_{col}"] = float(v)
        for col, v in zip(yout.columns, s_y):
            row[f"slack_{col}"] = float(v)
        for col, v in zip(xin.columns, x_t):
            row[f"target_{col}"] = float(v)
        for col, v in zip(yout.columns, y_t):
            row[f"target_{col}"] = float(v)
        if super_efficiency:
            sup, _ = _radial(x, y, o, rts, orientation, exclude_self=True)
            # Reported like efficiency: > 1 for efficient units under either orientation.
            row["super_efficiency"] = np.nan if sup is None else (
                sup if orientation == "input" else 1.0 / sup)
        rows.append(row)
        total = sum(row["lambdas"].values())
        for peer, value in row["lambdas"].items():
            peers_long.append({"unit": unit, "peer": peer, "lambda": value,
                               "share": value / total if total else np.nan})
    out = pd.DataFrame(rows)
    out.attrs["peers"] = pd.DataFrame(peers_long, columns=["unit", "peer", "lambda", "share"])
    out.attrs["rts"], out.attrs["orientation"] = rts, orientation
    return out


def frontier_peers(result: pd.DataFrame) -> pd.DataFrame:
    """Long form of a frontier result's peers: unit, peer, lambda, share (of the unit's lambdas).

    Only units that are not themselves efficient need a visit; filter with
    `frontier_peers(r).query("unit != peer")`.

    >>> frontier_peers(frontier(inputs, outputs))                  # doctest: +SKIP
    """
    if "peers" in result.attrs:
        return result.attrs["peers"].copy()
    rows = []
    for r in result.itertuples():
        total = sum(r.lambdas.values())
        rows += [{"unit": r.unit, "peer": p, "lambda": v, "share": v / total}
                 for p, v in r.lambdas.items()]
    return pd.DataFrame(rows, columns=["unit", "peer", "lambda", "share"])
