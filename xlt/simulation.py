"""Simulated studies with known truth, for the statistics' specification tests and timing.

PAWS-X-shaped: every language translates the same pairs. An item's base accuracy has a part shared by
its translations (pair difficulty) and a per-language part; each training run gets its own offset
(points, shared across languages, as a run that trained better is better everywhere); systems get
planted effects per intermediate task and per variant; optionally a system x pair interaction shared
across languages (a system that is better on a pair is better on all its translations)."""
from __future__ import annotations

import numpy as np

from xlt.comparisons import translation_cluster
from xlt.plan import BASELINE
from xlt.stats import ItemDesign


def study_systems(tasks: list[str], variants: list[str], model: str = "m") -> list[tuple]:
    return [(model, BASELINE, "standard")] + [(model, t, v) for t in tasks for v in variants]


def simulate(rng: np.random.Generator, tasks: list[str], variants: list[str], seeds: int, languages: list[str],
             pairs: int, run_sd: float, task_effect: dict | None = None, variant_effect: dict | None = None,
             interaction_sd: float = 0.0):
    """(systems, run_system, {lang: [runs, items] 0/100 scores}, ItemDesign) of one simulated study."""
    systems = study_systems(tasks, variants)
    task_effect, variant_effect = task_effect or {}, variant_effect or {}
    run_system = np.repeat(np.arange(len(systems)), seeds)
    effect = np.array([task_effect.get(t, 0.0) + (variant_effect.get(v, 0.0) if t != BASELINE else 0.0)
                       for _, t, v in systems])
    offsets = rng.normal(0.0, run_sd, size=len(run_system))                       # points, per run
    pair_difficulty = rng.normal(size=pairs)
    interaction = rng.normal(0.0, interaction_sd, size=(len(systems), pairs)) if interaction_sd else 0.0
    tables, ids = {}, {}
    for lang in languages:
        base = np.clip(0.72 + 0.18 * pair_difficulty + 0.08 * rng.normal(size=pairs) - 0.06 * (lang != "en"),
                       0.02, 0.98)
        shift = (effect[:, None] + interaction)[run_system] + offsets[:, None]   # [runs, pairs] points
        p = np.clip(base[None, :] + shift / 100.0, 0.0, 1.0)
        tables[lang] = 100.0 * (rng.random(p.shape) < p)
        ids[lang] = [f"{lang}-test-{i}" for i in range(pairs)]
    return systems, run_system, tables, ItemDesign.build(ids, translation_cluster)
