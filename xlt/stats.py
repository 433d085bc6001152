"""Uncertainty for the research answer: a two-level paired bootstrap over training runs and test items,
t-based tests with Satterthwaite degrees of freedom, Holm correction, minimum detectable effects.

Estimand: a system's (model x intermediate task x variant) expected score over training runs (seeds) and
test items, per language; language averages are equal-weight means of language scores.

Estimator of the uncertainty (`two_level_bootstrap`), per replicate:
  * Items: test items are resampled with replacement, the same draw for every system and run (pairing).
    Items that are translations of each other (PAWS-X: one source pair, seven languages) form one
    cluster and are resampled together, so correlation across languages widens the CI of a language
    average as it should; items of independent test sets (TyDiQA) are resampled per language.
  * Runs: each system's mean over its R runs gets a run-level deviation: the mean of R draws from the
    pooled run residuals of all systems of the target, (m_run - m_system) * sqrt(R / (R - 1)) — a
    residual bootstrap of a random run effect with one variance for all systems (as a mixed model
    assumes). Resampling each system's own 3 seeds instead would understate run-to-run variance
    (a bootstrap of 3 values has 2/3 of their variance and only 10 distinct means) and give
    false positives; pooling gives sum(R - 1) degrees of freedom (122 in the study). Each residual
    is a vector over languages, so a run that is better everywhere stays better everywhere.
A contrast (a weighted sum of system means, e.g. variant minus standard averaged over tasks) gets its
standard error from the replicates; its CI and p-value use a t reference whose degrees of freedom
combine the item part (clusters - 1) and the run part (pooled run df) by Welch-Satterthwaite — a
bootstrap-t approximation whose p-values, unlike the bootstrap's own, are not floored at 1/(B + 1), so
Holm-adjusted p-values can be small when effects are. With one seed per system the run part cannot be
estimated: it is reported as such and the CI covers item sampling only.

Minimum detectable effect (`mde`): (t_{1 - alpha/2} + t_{power}) * se, at the family's Bonferroni level
alpha / m (the first Holm step: conservative); `seeds_needed` scales the run part of se by R / R'."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (statsmodels; step-down, monotone, capped at 1)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return p
    return multipletests(p, method="holm")[1]


@dataclass
class ItemDesign:
    """Which cluster each test item of a language belongs to, and the stratum it is drawn in.
    stratum -> number of clusters; language -> (stratum, cluster index per item)."""
    n_clusters: dict[str, int]
    items: dict[str, tuple[str, np.ndarray]]

    @classmethod
    def build(cls, item_ids: dict[str, list[str]], cluster_of=None) -> "ItemDesign":
        """cluster_of(item_id, language) -> a key shared by translations of one item (one stratum for all
        languages), or None: every language is its own stratum of independent items."""
        if cluster_of is None:
            return cls({lang: len(ids) for lang, ids in item_ids.items()},
                       {lang: (lang, np.arange(len(ids))) for lang, ids in item_ids.items()})
        keys = {lang: [cluster_of(i, lang) for i in ids] for lang, ids in item_ids.items()}
        index = {k: j for j, k in enumerate(dict.fromkeys(k for ks in keys.values() for k in ks))}
        return cls({"all": len(index)}, {lang: ("all", np.array([index[k] for k in ks])) for lang, ks in keys.items()})

    def independent(self) -> "ItemDesign":
        """The same items, resampled independently per language (what ignoring translation does)."""
        return ItemDesign({lang: len(idx) for lang, (_, idx) in self.items.items()},
                          {lang: (lang, np.arange(len(idx))) for lang, (_, idx) in self.items.items()})

    def item_df(self) -> int:
        return max(1, min(self.n_clusters.values()) - 1)


@dataclass
class Bootstrap:
    """Observed system means and their replicates per language column: [S] and [S, B] arrays; the
    replicates are items part + runs part (kept apart for the variance decomposition)."""
    means: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    runs: dict[str, np.ndarray]
    run_df: int          # pooled degrees of freedom of the run variance (0: one run per system)
    item_df: int
    seeds: np.ndarray    # runs per system

    def add_average(self, name: str, columns: list[str]) -> None:
        """A language average (e.g. avg-xx): the mean of its columns, replicate by replicate."""
        for part in (self.means, self.items, self.runs):
            part[name] = np.mean([part[c] for c in columns], axis=0)


def two_level_bootstrap(run_scores: dict[str, np.ndarray], run_system: np.ndarray, design: ItemDesign,
                        replicates: int, rng: np.random.Generator, chunk: int = 250) -> Bootstrap:
    """run_scores[lang]: per-item scores [runs, items] (rows = training runs, same item order for all);
    run_system[run]: the run's system index. Returns system means and their bootstrap replicates."""
    n_sys = int(run_system.max()) + 1
    seeds = np.bincount(run_system, minlength=n_sys)
    average = np.zeros((n_sys, len(run_system)))  # [systems, runs]: mean over each system's runs
    average[run_system, np.arange(len(run_system))] = 1.0 / seeds[run_system]
    langs = list(run_scores)
    run_means = {lang: run_scores[lang].mean(axis=1) for lang in langs}
    means = {lang: average @ run_means[lang] for lang in langs}

    # pooled run residuals: one vector over languages per run of a system with >= 2 runs
    pooled = seeds[run_system] >= 2
    inflate = np.sqrt(seeds[run_system] / np.maximum(seeds[run_system] - 1, 1))
    residuals = {lang: ((run_means[lang] - means[lang][run_system]) * inflate)[pooled] for lang in langs}
    run_df = int(np.sum(np.maximum(seeds - 1, 0)))

    items = {lang: np.empty((n_sys, replicates)) for lang in langs}
    runs = {lang: np.zeros((n_sys, replicates)) for lang in langs}
    scores32 = {lang: np.ascontiguousarray(run_scores[lang], dtype=np.float32) for lang in langs}
    for start in range(0, replicates, chunk):
        b = min(chunk, replicates - start)
        counts = {s: rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float32)
                  for s, n in design.n_clusters.items()}
        draws = rng.integers(0, int(pooled.sum()), size=(b, len(run_system))) if run_df else None
        for lang in langs:
            stratum, cluster = design.items[lang]
            w = counts[stratum][:, cluster]                               # [b, items]
            per_run = (scores32[lang] @ w.T) / w.sum(axis=1)              # [runs, b]
            items[lang][:, start:start + b] = average @ per_run
            if draws is not None:  # each system's R runs replaced by R residual draws from the pool
                runs[lang][:, start:start + b] = average @ residuals[lang][draws].T
    return Bootstrap(means, items, runs, run_df, design.item_df(), seeds)


@dataclass
class Contrast:
    delta: float
    se: float
    var_items: float
    var_runs: float
    df: float
    ci_low: float = np.nan
    ci_high: float = np.nan
    p: float = np.nan


def satterthwaite(var_items, var_runs, item_df: int, run_df: int):
    """Welch-Satterthwaite degrees of freedom of a variance with an item part and a run part."""
    var_items, var_runs = np.asarray(var_items, dtype=float), np.asarray(var_runs, dtype=float)
    if run_df == 0:
        return np.full(np.broadcast(var_items, var_runs).shape, float(item_df))
    total = var_items + var_runs
    denom = var_items ** 2 / item_df + var_runs ** 2 / run_df
    return np.where(denom > 0, total ** 2 / np.where(denom > 0, denom, 1), float(item_df))


def contrasts(boot: Bootstrap, weights: np.ndarray, column: str, level: float = 0.95) -> dict[str, np.ndarray]:
    """For each row w of `weights` [K, systems]: the contrast sum_S w_S * mean_S on one language column
    with its two-level bootstrap uncertainty: delta, se (and its item/run parts), df, CI, p."""
    delta = weights @ boot.means[column]
    items, runs = weights @ boot.items[column], weights @ boot.runs[column]      # [K, B]
    var_items, var_runs = items.var(axis=1, ddof=1), runs.var(axis=1, ddof=1)
    se = np.sqrt(var_items + var_runs)
    df = satterthwaite(var_items, var_runs, boot.item_df, boot.run_df)
    half = st.t.ppf(0.5 + level / 2, df) * se
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * st.t.sf(np.abs(delta) / np.where(se > 0, se, 1), df),
                     np.where(delta == 0, 1.0, 0.0))  # no variation: a difference is certain
    return {"delta": delta, "se": se, "var_items": var_items, "var_runs": var_runs, "df": df,
            "ci_low": delta - half, "ci_high": delta + half, "p": p}


def contrast(boot: Bootstrap, weights: dict[int, float], column: str, level: float = 0.95) -> Contrast:
    """One contrast, {system index: weight}."""
    w = np.zeros((1, len(boot.seeds)))
    for i, v in weights.items():
        w[0, i] = v
    return Contrast(**{k: float(v[0]) for k, v in contrasts(boot, w, column, level).items()})


def mde(se: float, df: float, alpha: float, power: float = 0.8) -> float:
    """Smallest true effect a two-sided t test at level alpha detects with probability `power`."""
    return float((st.t.ppf(1 - alpha / 2, df) + st.t.ppf(power, df)) * se)


def seeds_needed(effect: float, var_items: float, var_runs: float, seeds: int, systems: int, item_df: int,
                 alpha: float, power: float = 0.8, max_seeds: int = 100) -> int | None:
    """Runs per system for which `effect` becomes detectable (the run part of a contrast's variance scales
    with 1 / runs; the item part does not); None if test items alone make it undetectable."""
    if var_runs <= 0:
        return None if mde(np.sqrt(var_items), item_df, alpha, power) > effect else seeds
    for r in range(2, max_seeds + 1):
        scaled = var_runs * seeds / r
        df = float(satterthwaite(var_items, scaled, item_df, systems * (r - 1)))
        if mde(np.sqrt(var_items + scaled), df, alpha, power) <= effect:
            return r
    return None
