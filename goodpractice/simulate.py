"""Simulated panels with known truth: does `classify` find planted outliers and flag few others?

Over-dispersion is the reason naive league tables mislead: real units differ for reasons nobody
measured, so even a borough with nothing special about it lands in the top or bottom fifth. This
module plants a few true outperformers and underperformers among hundreds of ordinary units of
very different sizes, runs every method on the same panels and scores them against the truth.

The data-generating process, per unit i and period t (everything on the log scale of the rate):

    log p_it = log(base_rate) + context_effect * deprivation_i + resource_effect * log(fte_i / mean)
               + u_i + e_it
    u_i ~ N(0, tau) for ordinary units, u_i = +/- planted_effect * tau for planted ones
    e_it ~ N(0, noise_sd)   (month-to-month wobble)
    numerator ~ Binomial(denominator, p) for a proportion, Poisson(denominator * p) for a rate

`u_i` is the over-dispersion: unexplained, persistent, and the same size for big and small units.
Denominators are lognormal, so the panel mixes units a hundred times apart in size.

Methods compared on the same panels (`evaluate`):

- ``classify``: the package's rule (O/E from resources and context, funnel with over-dispersion,
  SPC trend, peers);
- ``oracle``: the same 99.8% rule given the truth - each unit's true expected count (without
  u_i) and the true over-dispersion - the best this decision rule can do on the scenario;
- ``league_table``: top and bottom fifth of the pooled rate;
- ``peer_sd``: beyond +-1 SD of the unit's most-similar peers' average rate.

    >>> from goodpractice.simulate import Scenario, evaluate
    >>> evaluate(Scenario(n_units=200), seeds=range(2))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from goodpractice.errors import GoodPracticeError
from goodpractice.panel import Panel, from_frames
from goodpractice.periods import from_index, to_index

Z_998 = 3.090232306167813  # two-sided 99.8%
INDICATOR = "outcome"
ELEMENTS = ("investigations", "neighbourhood", "response")
METHODS = ("classify", "oracle", "league_table", "peer_sd")
_EMPTY_TARGETS = pd.DataFrame({c: pd.Series(dtype=float if c == "value" else object) for c in
                               ("indicator", "unit", "period", "kind", "value", "baseline_period",
                                "source")})
_EMPTY_CONTEXT = pd.DataFrame({"unit": pd.Series(dtype=object), "period": pd.Series(dtype=object),
                               "variable": pd.Series(dtype=object),
                               "value": pd.Series(dtype=float)})


@dataclass(frozen=True)
class Scenario:
    """One simulated world. The defaults are the 'realistic' scenario the test and benchmark use.

    Sizes: a median unit has `size_median` cases in its denominator each period (a borough's
    monthly crimes), `size_sdlog` spreads them about a hundredfold from the smallest to the
    largest. `tau` is the SD of the persistent unit effect on the log scale (over-dispersion:
    0.10 means ordinary units differ by about 10% for unmeasured reasons). A share
    `planted_share` of units in each direction sits at `planted_effect` x tau.
    """

    n_units: int = 400
    n_periods: int = 24
    window: int = 12
    kind: str = "proportion"
    base_rate: float = 0.15
    size_median: float = 400.0
    size_sdlog: float = 1.0
    tau: float = 0.10
    noise_sd: float = 0.03
    planted_share: float = 0.03
    planted_effect: float = 4.0
    context_effect: float = 0.15
    resource_effect: float = 0.10
    higher_is_better: bool = True
    start: str = "2020-01"

    def with_(self, **changes) -> Scenario:
        """A copy with some fields changed: ``Scenario().with_(tau=0.2)``."""
        return replace(self, **changes)


@dataclass
class SimulatedPanel:
    """A simulated panel and its truth (unit, truth 'high'|'low'|'null', effect, true_expected)."""

    panel: Panel
    truth: pd.DataFrame
    scenario: Scenario
    period: str


def _check(scenario: Scenario) -> None:
    if scenario.kind not in ("proportion", "rate"):
        raise GoodPracticeError(
            f"Scenario.kind={scenario.kind!r}: expected 'proportion' or 'rate'"
        )
    if scenario.n_units < 20:
        raise GoodPracticeError(
            f"Scenario.n_units={scenario.n_units}: need at least 20 units for peers and funnels"
        )
    if scenario.window > scenario.n_periods:
        raise GoodPracticeError(
            f"Scenario.window={scenario.window} is longer than n_periods={scenario.n_periods}"
        )


def simulate_panel(scenario: Scenario = Scenario(), seed: int = 0, validate: bool = True
                   ) -> SimulatedPanel:
    """Generate one panel of `scenario` with random seed `seed` (same seed, same panel).

    `validate=False` builds the Panel without :func:`goodpractice.panel.from_frames`' checks (the
    frames are valid by construction; the benchmarks use it for 35,000 units).

        >>> sim = simulate_panel(Scenario(n_units=100), seed=1)
        >>> sorted(sim.truth["truth"].unique())
        ['high', 'low', 'null']
    """
    _check(scenario)
    s = scenario
    rng = np.random.default_rng(seed)
    n, t = s.n_units, s.n_periods
    width = max(4, len(str(n)))
    units = np.array([f"u{i:0{width}d}" for i in range(n)], dtype=object)

    # Unit-level context: deprivation (standardised), density, size, resources.
    deprivation = rng.normal(0.0, 1.0, n)
    density = np.exp(rng.normal(0.0, 0.7, n) + 0.3 * deprivation)
    size = s.size_median * np.exp(rng.normal(0.0, s.size_sdlog, n))
    population = np.round(size * 250.0)
    # Resourcing per 1,000 population varies between units and rises a little with deprivation.
    log_intensity = rng.normal(0.0, 0.25, n) + 0.1 * deprivation
    fte_total = population / 1000.0 * 2.0 * np.exp(log_intensity)

    # Truth: the persistent unit effect u_i.
    n_planted = max(1, round(s.planted_share * n))
    order = rng.permutation(n)
    high, low = order[:n_planted], order[n_planted: 2 * n_planted]
    u = rng.normal(0.0, s.tau, n)
    u[high] = s.planted_effect * s.tau
    u[low] = -s.planted_effect * s.tau
    truth = np.full(n, "null", dtype=object)
    sign = 1 if s.higher_is_better else -1
    truth[high] = "high" if sign > 0 else "low"
    truth[low] = "low" if sign > 0 else "high"

    # Period-level draws, unit x period matrices.
    denom = np.maximum(1.0, np.round(size[:, None] * np.exp(rng.normal(0.0, 0.1, (n, t)))))
    log_expected = (
        np.log(s.base_rate)
        + s.context_effect * deprivation
        + s.resource_effect * (log_intensity - log_intensity.mean())
    )
    noise = rng.normal(0.0, s.noise_sd, (n, t))
    p = np.exp(log_expected[:, None] + u[:, None] + noise)
    if s.kind == "proportion":
        p = np.clip(p, 1e-6, 0.95)
        numer = rng.binomial(denom.astype(np.int64), p).astype(float)
        p_expected = np.clip(np.exp(log_expected), 1e-6, 0.95)
    else:
        numer = rng.poisson(denom * p).astype(float)
        p_expected = np.exp(log_expected)

    first = to_index(s.start, "monthly")
    periods = np.array([from_index(first + j, "monthly") for j in range(t)], dtype=object)
    outcomes = pd.DataFrame(
        {
            "unit": np.repeat(units, t),
            "period": np.tile(periods, n),
            "indicator": INDICATOR,
            "numerator": numer.ravel(),
            "denominator": denom.ravel(),
        }
    )
    # Each unit splits its FTE its own way (otherwise the elements' intensities are collinear).
    shares = rng.dirichlet(np.array([0.45, 0.30, 0.25]) * 40, size=n)
    resources = pd.DataFrame(
        {
            "unit": np.repeat(units, t * len(ELEMENTS)),
            "period": np.tile(np.repeat(periods, len(ELEMENTS)), n),
            "element": np.tile(np.array(ELEMENTS, dtype=object), n * t),
            "measure": "fte",
            "value": np.round(
                np.repeat(fte_total, t * len(ELEMENTS)) * np.repeat(shares, t, axis=0).ravel(), 2
            ),
        }
    )
    unit_table = pd.DataFrame(
        {
            "unit": units,
            "name": [f"Unit {i}" for i in range(n)],
            "level": "unit",
            "parent": "",
            "population": population,
            "deprivation": np.round(deprivation, 4),
            "density": np.round(density, 4),
        }
    )
    indicators = pd.DataFrame(
        {
            "indicator": [INDICATOR],
            "label": ["Simulated outcome"],
            "kind": [s.kind],
            "higher_is_better": [s.higher_is_better],
            "multiplier": [100.0 if s.kind == "proportion" else 1000.0],
        }
    )
    if validate:
        panel = from_frames(units=unit_table, outcomes=outcomes, indicators=indicators,
                            resources=resources, frequency="monthly", name=f"simulated-{seed}")
    else:
        # Correct by construction; skipping validation saves most of the time at 35,000 units.
        def plain(df: pd.DataFrame) -> pd.DataFrame:
            # The same dtypes as a validated panel: text columns as Python objects.
            text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])
                    and not pd.api.types.is_bool_dtype(df[c])]
            return df.astype({c: object for c in text})

        unit_table["parent"] = None
        panel = Panel(units=plain(unit_table), outcomes=plain(outcomes),
                      indicators=plain(indicators), resources=plain(resources),
                      targets=_EMPTY_TARGETS.copy(), context=_EMPTY_CONTEXT.copy(),
                      policing_model={e: {"label": e.capitalize(), "description": "",
                                          "functions": []} for e in ELEMENTS},
                      frequency="monthly", name=f"simulated-{seed}")

    # The oracle's inputs: expected counts over the last `window` periods without u_i.
    last = denom[:, -s.window:]
    true_expected = (last * p_expected[:, None]).sum(axis=1)
    truth_table = pd.DataFrame(
        {
            "unit": units,
            "truth": truth,
            "effect": u,
            "true_expected": true_expected,
            "true_rate": p_expected,
            "observed": numer[:, -s.window:].sum(axis=1),
            "denominator": last.sum(axis=1),
        }
    )
    return SimulatedPanel(panel=panel, truth=truth_table, scenario=s, period=str(periods[-1]))


# -- the comparison methods ------------------------------------------------------------------------


def oracle(sim: SimulatedPanel, level: float = 0.998) -> pd.Series:
    """Verdicts ('top'|'poor'|'none') by unit from the true expected count and true over-dispersion.

    z = log(O / E_true) / sqrt(v / E_true + tau^2 + noise_sd^2 / window), v = 1 - p for a
    proportion (binomial) and 1 for a rate (Poisson): the same funnel rule with nothing estimated.
    """
    s, tr = sim.scenario, sim.truth
    z_a = stats.norm.ppf(0.5 + level / 2)
    v = (1.0 - tr["true_rate"]) if s.kind == "proportion" else 1.0
    observed = np.maximum(tr["observed"], 0.5)  # a zero count still has a finite log
    z = np.log(observed / tr["true_expected"]) / np.sqrt(
        v / tr["true_expected"] + s.tau**2 + s.noise_sd**2 / s.window
    )
    return _verdicts(tr["unit"], z, z_a, s.higher_is_better)


def league_table(sim: SimulatedPanel, share: float = 0.2) -> pd.Series:
    """Top and bottom `share` of units by pooled rate over the window: the naive league table."""
    tr, s = sim.truth, sim.scenario
    rate = tr["observed"] / tr["denominator"]
    better = rate if s.higher_is_better else -rate
    ranks = better.rank(method="first", pct=True)
    verdict = np.where(ranks > 1 - share, "top", np.where(ranks <= share, "poor", "none"))
    return pd.Series(verdict, index=tr["unit"].to_numpy(), name="verdict")


def peer_sd(sim: SimulatedPanel, k: int = 7) -> pd.Series:
    """Beyond +-1 SD of the unit's k most-similar peers' rates (peers from `goodpractice.peers`)."""
    from goodpractice.peers import peers

    tr, s = sim.truth, sim.scenario
    rate = pd.Series((tr["observed"] / tr["denominator"]).to_numpy(), index=tr["unit"].to_numpy())
    pairs = peers(sim.panel, k=k)
    pairs = pairs.assign(rate=pairs["peer"].map(rate))
    grouped = pairs.groupby("unit")["rate"]
    mean, sd = grouped.mean(), grouped.std(ddof=1)
    own = rate.reindex(mean.index)
    diff = (own - mean) / sd
    z = diff if s.higher_is_better else -diff
    verdict = np.where(z > 1, "top", np.where(z < -1, "poor", "none"))
    out = pd.Series(verdict, index=mean.index, name="verdict")
    return out.reindex(rate.index, fill_value="none")


def classify_method(sim: SimulatedPanel, **kwargs) -> pd.Series:
    """The package's `classify` on the simulated panel, reduced to 'top'|'poor'|'none'."""
    from goodpractice.classify import classify

    out = classify(sim.panel, indicator=INDICATOR, period=sim.period,
                   window=sim.scenario.window, overall=False, **kwargs)
    verdict = out["category"].where(out["category"].isin(["top", "poor"]), "none")
    return pd.Series(verdict.to_numpy(), index=out["unit"].to_numpy(), name="verdict")


def _verdicts(units: pd.Series, z: pd.Series, z_a: float, higher_is_better: bool) -> pd.Series:
    better = z if higher_is_better else -z
    verdict = np.where(better > z_a, "top", np.where(better < -z_a, "poor", "none"))
    return pd.Series(verdict, index=units.to_numpy(), name="verdict")


METHOD_FUNCTIONS: dict[str, Callable[[SimulatedPanel], pd.Series]] = {
    "classify": classify_method,
    "oracle": oracle,
    "league_table": league_table,
    "peer_sd": peer_sd,
}


# -- scoring ---------------------------------------------------------------------------------------


def score(verdict: pd.Series, truth: pd.DataFrame) -> dict[str, float]:
    """Counts for one method on one panel. A hit needs the right direction: a planted
    outperformer called 'poor' is a false positive and a miss."""
    t = truth.set_index("unit")["truth"]
    v = verdict.reindex(t.index, fill_value="none")
    flagged = v != "none"
    planted = t != "null"
    hit = ((v == "top") & (t == "high")) | ((v == "poor") & (t == "low"))
    return {
        "tp": int(hit.sum()),
        "fp": int((flagged & ~hit).sum()),
        "fn": int((planted & ~hit).sum()),
        "null_flagged": int((flagged & ~planted).sum()),
        "nulls": int((~planted).sum()),
        "planted": int(planted.sum()),
        "flagged": int(flagged.sum()),
    }


def _rates(c: dict[str, float]) -> dict[str, float]:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
    f1 = (2 * precision * recall / (precision + recall)
          if np.isfinite(precision) and np.isfinite(recall) and precision + recall > 0 else 0.0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "null_flag_rate": c["null_flagged"] / c["nulls"] if c["nulls"] else float("nan"),
    }


def evaluate(
    scenario: Scenario = Scenario(),
    methods: Iterable[str] = METHODS,
    seeds: Iterable[int] = range(5),
    classify_kwargs: dict | None = None,
    per_seed: bool = False,
) -> pd.DataFrame:
    """Score each method over panels simulated with `seeds` (counts pooled over seeds).

    Returns one row per method: method, precision, recall, f1, null_flag_rate, tp, fp, fn,
    flagged, planted, nulls, seeds (with `per_seed=True`, one row per method and seed instead).

        >>> evaluate(Scenario(n_units=200), methods=["oracle"], seeds=[0])  # doctest: +SKIP
    """
    methods = list(methods)
    unknown = [m for m in methods if m not in METHOD_FUNCTIONS]
    if unknown:
        raise GoodPracticeError(
            f"unknown method(s) {unknown}; expected some of {', '.join(METHOD_FUNCTIONS)}"
        )
    seeds = list(seeds)
    if not seeds:
        raise GoodPracticeError("evaluate needs at least one seed, e.g. seeds=range(5)")
    rows = []
    for seed in seeds:
        sim = simulate_panel(scenario, seed)
        for m in methods:
            if m == "classify":
                verdict = classify_method(sim, **(classify_kwargs or {}))
            else:
                verdict = METHOD_FUNCTIONS[m](sim)
            rows.append({"method": m, "seed": seed, **score(verdict, sim.truth)})
    counts = pd.DataFrame(rows)
    keys = ["tp", "fp", "fn", "null_flagged", "nulls", "planted", "flagged"]
    if per_seed:
        rates = pd.DataFrame([_rates(r) for r in counts[keys].to_dict("records")])
        return pd.concat([counts, rates], axis=1)
    pooled = counts.groupby("method", sort=False)[keys].sum()
    out = pd.DataFrame([{"method": m, **_rates(r), **r} for m, r in pooled.iterrows()])
    out["seeds"] = len(seeds)
    return out.reset_index(drop=True)
