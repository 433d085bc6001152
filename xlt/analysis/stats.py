"""Uncertainty for the research answer: item sampling by a paired (cluster) bootstrap, run-to-run
variation from each system's own runs (paired by seed where the design pairs them), t-based tests with
Welch-Satterthwaite degrees of freedom, Holm correction, two one-sided tests for equivalence, minimum
detectable effects.

Estimand: a system's (model x intermediate task x variant) expected score over training runs (seeds) and
test items, per language; language averages are equal-weight means of language scores.

A contrast is a weighted sum of system means, c = sum_s w_s * mean_s (e.g. a variant minus standard,
averaged over tasks). Its variance has two parts:
  * Items (`two_level_bootstrap`, by replicate): test items are resampled with replacement, the same draw
    for every system and run (pairing). Translations of one item (PAWS-X: one source pair, seven
    languages) form one cluster resampled together, so correlation across languages widens a language
    average's CI as it should; items of independent test sets (TyDiQA) are resampled per language.
  * Runs (`run_variance`, exact moments, no resampling): systems are grouped into *pairing blocks* —
    systems trained with the same seeds from one starting point (the variants of one intermediate task:
    same data order and head initialisation per seed). Within a block, the contrast's value is formed
    run by run, c_b,r = sum_{s in b} w_s * x_s,r (x = a run's mean score), and its variance over the
    block's R runs, var_r(c_b,r) / R, estimates that block's share with R - 1 degrees of freedom — a
    paired difference when the block holds a variant and standard, so a seed that trains both well
    cancels, and an uncorrelated pair costs nothing but degrees of freedom. A block of one system is
    Welch's unpaired term w_s^2 s_s^2 / R_s. Nothing is pooled across blocks: a variant (or task) whose
    runs vary three times more gets its own, larger variance, and no stable arm lends it precision.
The parts combine by Welch-Satterthwaite: df = var^2 / (var_items^2 / item_df + sum_b var_b^2 / (R_b - 1)),
and CIs and p-values use t with that df (a bootstrap-t approximation: p-values are not floored at
1 / (B + 1), so Holm-adjusted p-values can be small when effects are). With one run per system the run
part cannot be estimated: it is reported as such (df_runs = 0) and the CI covers item sampling only.
`run_variance(..., mode="pooled")` is the earlier estimator (one run variance pooled over every system),
kept only as the specification tests' control: it is what an unstable arm fools.

Minimum detectable effect (`mde`): (t_{1 - alpha/2} + t_{power}) * se, at the family's Bonferroni level
alpha / m (the first Holm step: conservative); `power_at` is its inverse; `seeds_needed` scales each
block's run part by R / R' and its df to R' - 1. Equivalence (`tost_p`): the larger of the two one-sided
p-values against -margin and +margin — equivalent at level alpha iff the (1 - 2 alpha) CI lies inside
±margin (Schuirmann 1987). statsmodels' TOST helpers take raw samples; these contrasts are not one sample,
so the two t tails are computed here from the same (delta, se, df) the two-sided test uses."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import stats as st


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: step-down, monotone, capped at 1. Equal to statsmodels'
    multipletests(method="holm") (tested); written out because that call runs gc.collect() every time
    (~50 ms), which the simulation studies would pay thousands of times."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(np.minimum((m - np.arange(m)) * p[order], 1.0))
    out = np.empty(m)
    out[order] = stepped
    return out


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
    """Observed system means [S] and item-bootstrap replicates [S, B] per language column, each run's mean
    score [runs] per column (the run part's raw material), and the design of the runs."""
    means: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    run_means: dict[str, np.ndarray]
    run_system: np.ndarray  # [runs] system index
    run_seed: np.ndarray    # [runs] seed label (pairs runs across the systems of a block)
    blocks: np.ndarray      # [systems] pairing block id
    item_df: int
    seeds: np.ndarray       # runs per system

    def add_average(self, name: str, columns: list[str]) -> None:
        """A language average (e.g. avg-xx): the mean of its columns, replicate by replicate, run by run."""
        for part in (self.means, self.items, self.run_means):
            part[name] = np.mean([part[c] for c in columns], axis=0)

    @property
    def run_df(self) -> int:
        """Degrees of freedom the runs carry in all (0: one run per system, run variance unknown)."""
        return int(np.maximum(self.seeds - 1, 0).sum())

    @cached_property
    def paired_blocks(self) -> list[np.ndarray]:
        """Systems grouped into blocks whose runs pair by seed: same block id and the same seed labels
        (a block whose systems ran different seeds is split into single systems: unpaired)."""
        out = []
        for b in np.unique(self.blocks):
            members = np.flatnonzero(self.blocks == b)
            seed_sets = {tuple(sorted(self.run_seed[self.run_system == s])) for s in members}
            out += [members] if len(seed_sets) == 1 else [np.array([s]) for s in members]
        return out


def two_level_bootstrap(run_scores: dict[str, np.ndarray], run_system: np.ndarray, design: ItemDesign,
                        replicates: int, rng: np.random.Generator, run_seed: np.ndarray | None = None,
                        blocks: np.ndarray | None = None, chunk: int = 250) -> Bootstrap:
    """run_scores[lang]: per-item scores [runs, items] (rows = training runs, same item order for all);
    run_system[run]: the run's system index; run_seed[run]: its seed (default: its position within the
    system); blocks[system]: pairing block (default: every system alone, unpaired). Returns system means,
    their item-bootstrap replicates and the run means the run part is computed from."""
    n_sys = int(run_system.max()) + 1
    seeds = np.bincount(run_system, minlength=n_sys)
    if run_seed is None:
        run_seed = np.concatenate([np.arange(n) for n in seeds])[np.argsort(np.argsort(run_system, kind="stable"))]
    blocks = np.arange(n_sys) if blocks is None else np.asarray(blocks)
    average = np.zeros((n_sys, len(run_system)))  # [systems, runs]: mean over each system's runs
    average[run_system, np.arange(len(run_system))] = 1.0 / seeds[run_system]
    langs = list(run_scores)
    run_means = {lang: run_scores[lang].mean(axis=1) for lang in langs}
    means = {lang: average @ run_means[lang] for lang in langs}
    items = {lang: np.empty((n_sys, replicates)) for lang in langs}
    scores32 = {lang: np.ascontiguousarray(run_scores[lang], dtype=np.float32) for lang in langs}
    for start in range(0, replicates, chunk):
        b = min(chunk, replicates - start)
        counts = {s: rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.float32)
                  for s, n in design.n_clusters.items()}
        for lang in langs:
            stratum, cluster = design.items[lang]
            w = counts[stratum][:, cluster]                               # [b, items]
            per_run = (scores32[lang] @ w.T) / w.sum(axis=1)              # [runs, b]
            items[lang][:, start:start + b] = average @ per_run
    return Bootstrap(means, items, run_means, np.asarray(run_system), np.asarray(run_seed), blocks,
                     design.item_df(), seeds)


def welch_df(parts: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance estimates, [(var, df)]
    (arrays broadcast); parts with df 0 (unknown) or zero variance are left out; nothing left: inf."""
    total = sum(np.asarray(v, dtype=float) for v, _ in parts)
    denom = np.zeros(np.shape(total))
    for v, d in parts:
        v, d = np.asarray(v, dtype=float), np.asarray(d, dtype=float)
        denom = denom + np.where(d > 0, v ** 2 / np.where(d > 0, d, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, total ** 2 / np.where(denom > 0, denom, 1.0), np.inf)


def satterthwaite(var_items, var_runs, item_df: int, run_df: int):
    """Welch-Satterthwaite df of a variance with one item part and one run part (run_df 0: items only)."""
    return welch_df([(var_items, item_df), (var_runs, run_df)])


def run_variance(boot: Bootstrap, weights: np.ndarray, column: str, mode: str = "blocks"):
    """The run part of each contrast (rows of weights [K, systems]) on one column: (var [K, P], df [K, P])
    per part P. Mode "blocks": one part per pairing block — a contrast between systems of the block is
    formed seed by seed and its variance over the R seeds estimated directly (paired, R - 1 df); a lone
    system of the block uses the run variance pooled over the block's systems (the variants of one task:
    sum R - 1 df), so an unstable task inflates only its own tests and an unstable variant makes its
    task's tests conservative, never liberal. Mode "pooled" (the control estimator): one variance pooled
    over all systems. Systems with one run contribute nothing (their run variance is unknown)."""
    x = boot.run_means[column]
    k = len(weights)
    if mode == "pooled":
        resid = x - boot.means[column][boot.run_system]
        df = boot.run_df
        pooled = float((resid[boot.seeds[boot.run_system] >= 2] ** 2).sum() / df) if df else 0.0
        return ((weights ** 2) @ (pooled / boot.seeds))[:, None], np.full((k, 1), float(df))
    if mode != "blocks":
        raise ValueError(f"run variance mode {mode!r}: use 'blocks' or 'pooled'")
    parts, dfs = [], []
    for members in boot.paired_blocks:  # computed once, shared by every column
        r = int(boot.seeds[members[0]])
        if r < 2:
            continue
        # [systems of the block, runs] ordered by seed, so column j is one seed for every member
        runs = np.stack([x[boot.run_system == s][np.argsort(boot.run_seed[boot.run_system == s])] for s in members])
        w = weights[:, members]                                               # [K, M]
        paired = (w @ runs).var(axis=1, ddof=1) / r                           # [K]
        pooled_var = runs.var(axis=1, ddof=1).mean()                          # equal R: the pooled variance
        lone = (w != 0).sum(axis=1) == 1
        parts.append(np.where(lone, (w ** 2).sum(axis=1) * pooled_var / r, paired))
        dfs.append(np.where(lone, len(members) * (r - 1.0), r - 1.0))
    if not parts:
        return np.zeros((k, 1)), np.zeros((k, 1))
    return np.stack(parts, axis=1), np.stack(dfs, axis=1)


def contrasts(boot: Bootstrap, weights: np.ndarray, column: str, level: float = 0.95,
              run_mode: str = "blocks") -> dict[str, np.ndarray]:
    """For each row w of `weights` [K, systems]: the contrast sum_S w_S * mean_S on one language column,
    with delta, se (and its item/run parts), df (and the run parts' own df), CI and p."""
    delta = weights @ boot.means[column]
    var_items = (weights @ boot.items[column]).var(axis=1, ddof=1)
    var_parts, part_df = run_variance(boot, weights, column, run_mode)
    var_runs = var_parts.sum(axis=1)
    se = np.sqrt(var_items + var_runs)
    run_parts = [(var_parts[:, j], part_df[:, j]) for j in range(var_parts.shape[1])]
    df = welch_df([(var_items, boot.item_df), *run_parts])
    df_runs = np.where(var_runs > 0, welch_df(run_parts), 0.0)
    half = st.t.ppf(0.5 + level / 2, df) * se
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, 2 * st.t.sf(np.abs(delta) / np.where(se > 0, se, 1), df),
                     np.where(delta == 0, 1.0, 0.0))  # no variation: a difference is certain
    return {"delta": delta, "se": se, "var_items": var_items, "var_runs": var_runs, "df": df,
            "df_runs": df_runs, "ci_low": delta - half, "ci_high": delta + half, "p": p,
            "var_parts": var_parts, "part_df": part_df}


@dataclass
class Contrast:
    delta: float
    se: float
    var_items: float
    var_runs: float
    df: float
    df_runs: float
    ci_low: float
    ci_high: float
    p: float


def contrast(boot: Bootstrap, weights: dict[int, float], column: str, level: float = 0.95,
             run_mode: str = "blocks") -> Contrast:
    """One contrast, {system index: weight}."""
    w = np.zeros((1, len(boot.seeds)))
    for i, v in weights.items():
        w[0, i] = v
    c = contrasts(boot, w, column, level, run_mode)
    return Contrast(**{k: float(c[k][0]) for k in Contrast.__dataclass_fields__})


def tost_p(delta, se, df, margin: float) -> np.ndarray:
    """Two one-sided tests of |true delta| < margin: the larger of P(T >= (delta + margin) / se) under
    delta = -margin and P(T <= (delta - margin) / se) under delta = +margin (t with df)."""
    delta, se, df = (np.asarray(a, dtype=float) for a in (delta, se, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(se > 0, se, 1.0)
        lower = st.t.sf((delta + margin) / safe, df)
        upper = st.t.cdf((delta - margin) / safe, df)
    inside = np.where(np.abs(delta) < margin, 0.0, 1.0)
    return np.where(se > 0, np.maximum(lower, upper), inside)


def mde(se: float, df: float, alpha: float, power: float = 0.8) -> float:
    """Smallest true effect a two-sided t test at level alpha detects with probability `power`."""
    return float((st.t.ppf(1 - alpha / 2, df) + st.t.ppf(power, df)) * se)


def power_at(effect: float, se: float, df: float, alpha: float) -> float:
    """Probability that a two-sided t test at level alpha finds a true `effect` (the inverse of mde)."""
    if se <= 0:
        return float(abs(effect) > 0)
    crit = st.t.ppf(1 - alpha / 2, df)
    return float(st.t.sf(crit - abs(effect) / se, df) + st.t.cdf(-crit - abs(effect) / se, df))


def seeds_needed(effect: float, var_items: float, item_df: float, var_runs: float, df_runs: float, runs: int,
                 alpha: float, power: float = 0.8, max_seeds: int = 100) -> int | None:
    """Runs per system for which `effect` becomes detectable: the run part scales by runs / R' and its
    degrees of freedom by (R' - 1) / (runs - 1) (each block keeps its share); the item part does not
    scale. None if test items alone make it undetectable, or more than max_seeds would be needed."""
    if var_runs <= 0 or runs < 2:
        return None if mde(np.sqrt(var_items), item_df, alpha, power) > effect else max(runs, 1)
    for r in range(2, max_seeds + 1):
        scaled, df = var_runs * runs / r, df_runs * (r - 1) / (runs - 1)
        total_df = float(welch_df([(var_items, item_df), (scaled, df)]))
        if mde(np.sqrt(var_items + scaled), total_df, alpha, power) <= effect:
            return r
    return None


@dataclass
class Heterogeneity:
    """Whether K contrasts (one adversarial variant vs standard, one per intermediate task) share one true
    effect: Cochran's Q generalised to correlated estimates, its p-value, I^2, and each contrast's
    standardised distance from the pooled (precision-weighted) effect."""
    q: float
    df: int
    p: float
    i2: float
    residuals: np.ndarray   # (d_k - pooled) / sd_k
    df_each: np.ndarray     # Welch-Satterthwaite df of each contrast (items + its runs)


def heterogeneity(boot: Bootstrap, weights: np.ndarray, column: str, rng: np.random.Generator,
                  draws: int = 4000) -> Heterogeneity:
    """Q = min_mu (d - mu 1)' S^-1 (d - mu 1) over the K contrasts d (rows of weights [K, systems]) on one
    column, S = the item covariance (the contrasts share test items: from the bootstrap replicates, full
    K x K) + the run variance of each (its own pairing block: independent across tasks, diagonal).
    With three seeds each run variance rests on 2 df, so Q's chi-square(K - 1) reference would be liberal:
    its null distribution comes from a parametric bootstrap that redraws the contrasts from N(0, S) and
    each run variance from its scaled chi-square (its own df), recomputing Q with the redrawn S. With one
    seed the run part is unknown and the test covers item sampling only (the report says so of every
    one-seed number)."""
    d = weights @ boot.means[column]
    k = len(d)
    cov_items = np.atleast_2d(np.cov(weights @ boot.items[column], ddof=1))
    var_parts, part_df = run_variance(boot, weights, column)
    v_run = var_parts.sum(axis=1)
    df_run = np.where(v_run > 0, welch_df([(var_parts[:, j], part_df[:, j]) for j in range(var_parts.shape[1])]), 0.0)
    sigma = cov_items + np.diag(v_run)
    q, pooled = _q_statistic(d[None, :], sigma[None])
    # the null: contrasts ~ N(0, S), run variances ~ v chi2_df / df (redrawn only where estimated)
    chol = np.linalg.cholesky(sigma + 1e-12 * np.trace(sigma) / k * np.eye(k))
    d_null = rng.standard_normal((draws, k)) @ chol.T
    scale = np.ones((draws, k))
    est = (df_run > 0) & np.isfinite(df_run)
    scale[:, est] = rng.chisquare(df_run[est], size=(draws, int(est.sum()))) / df_run[est]
    sigma_null = cov_items[None] + v_run[None, :, None] * scale[:, :, None] * np.eye(k)[None]
    q_null, _ = _q_statistic(d_null, sigma_null)
    p = float((1 + np.sum(q_null >= q[0])) / (draws + 1))
    resid = (d - pooled[0]) / np.sqrt(np.diag(sigma))
    df_each = welch_df([(np.diag(cov_items), boot.item_df), (v_run, df_run)])
    return Heterogeneity(q=float(q[0]), df=k - 1, p=p, i2=float(max(0.0, (q[0] - (k - 1)) / q[0])) if q[0] > 0 else 0.0,
                         residuals=resid, df_each=df_each)


def _q_statistic(d: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Q, pooled mean) per row of d [N, K] with covariances sigma [N, K, K] (generalised least squares)."""
    ones = np.ones(d.shape[1])
    inv_d = np.linalg.solve(sigma, d[..., None])[..., 0]                     # S^-1 d
    inv_1 = np.linalg.solve(sigma, np.broadcast_to(ones, d.shape)[..., None])[..., 0]  # S^-1 1
    a, b = inv_1.sum(axis=1), (inv_d).sum(axis=1)                            # 1'S^-1 1, 1'S^-1 d
    pooled = b / a
    return np.einsum("nk,nk->n", d, inv_d) - b ** 2 / a, pooled
