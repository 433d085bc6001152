"""Uncertainty for the research answer: paired bootstrap over evaluation examples, Holm correction.

All systems evaluated on one (target, language) share the test examples, so one set of resampled
example indices per replicate serves every system: differences between systems are paired by design.
Seeds are averaged per example before resampling (= averaging seeds inside each replicate for means)."""
from __future__ import annotations

import numpy as np


def bootstrap_means(scores: np.ndarray, replicates: int, rng: np.random.Generator, chunk: int = 500) -> np.ndarray:
    """scores [systems, examples] -> replicate means [systems, replicates] (examples resampled with
    replacement, the same resample for every system)."""
    n = scores.shape[1]
    out = np.empty((scores.shape[0], replicates))
    for start in range(0, replicates, chunk):
        r = min(chunk, replicates - start)
        counts = np.stack([np.bincount(row, minlength=n) for row in rng.integers(0, n, size=(r, n))])
        out[:, start:start + r] = scores @ counts.T.astype(scores.dtype) / n
    return out


def ci_and_p(delta: float, replicates: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Percentile CI of a difference and the two-sided bootstrap p-value for delta != 0, from the
    replicate distribution centred on the observed delta (the null shifts it to 0)."""
    lo, hi = np.quantile(replicates, [(1 - level) / 2, 1 - (1 - level) / 2])
    extreme = np.sum(np.abs(replicates - delta) >= abs(delta))
    p = (1 + extreme) / (1 + len(replicates))
    return float(lo), float(hi), float(p)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted
