"""Simulated studies with known truth, for the statistics' specification tests and timing.

PAWS-X-shaped: every language translates the same pairs. An item's base accuracy has a part shared by
its translations (pair difficulty) and a per-language part; each training run gets its own offset
(points, shared across languages, as a run that trained better is better everywhere); systems get
planted effects per intermediate task and per variant; optionally a system x pair interaction shared
across languages (a system that is better on a pair is better on all its translations).

`variant_task_effect` plants an adversarial effect that differs between tasks (heterogeneity).

The cases that break a pooled run variance: `run_sd_by` gives a variant or a task its own run sd (an
unstable arm); `seed_correlation` makes the variants of one task share that part of their run offset at
the same seed (one data order and head initialisation per seed); `baseline_seeds` gives the baseline
more runs."""
from __future__ import annotations

import numpy as np

from xlt.analysis.comparisons import translation_cluster
from xlt.workflow.plan import BASELINE
from xlt.analysis.stats import ItemDesign


def study_systems(tasks: list[str], variants: list[str], model: str = "m") -> list[tuple]:
    return [(model, BASELINE, "standard")] + [(model, t, v) for t in tasks for v in variants]


def simulate(rng: np.random.Generator, tasks: list[str], variants: list[str], seeds: int, languages: list[str],
             pairs: int, run_sd: float, task_effect: dict | None = None, variant_effect: dict | None = None,
             interaction_sd: float = 0.0, run_sd_by: dict | None = None, seed_correlation: float = 0.0,
             baseline_seeds: int | None = None, variant_task_effect: dict | None = None):
    """(systems, run_system, {lang: [runs, items] 0/100 scores}, ItemDesign) of one simulated study; runs
    of a system are in seed order (run j of every system = seed j). `variant_task_effect`: {(variant, task):
    points} added to that arm only (an adversarial effect that differs between tasks)."""
    systems = study_systems(tasks, variants)
    task_effect, variant_effect, run_sd_by = task_effect or {}, variant_effect or {}, run_sd_by or {}
    runs_per = np.array([baseline_seeds or seeds if t == BASELINE else seeds for _, t, _ in systems])
    run_system = np.repeat(np.arange(len(systems)), runs_per)
    run_index = np.concatenate([np.arange(n) for n in runs_per])
    vt = variant_task_effect or {}
    effect = np.array([task_effect.get(t, 0.0) + (variant_effect.get(v, 0.0) + vt.get((v, t), 0.0) if t != BASELINE else 0.0)
                       for _, t, v in systems])
    sd = np.array([run_sd_by.get(v, run_sd_by.get(t, run_sd)) if t != BASELINE else run_sd_by.get(t, run_sd)
                   for _, t, v in systems])[run_system]
    task_of = np.array([t for _, t, _ in systems])[run_system]
    shared = {(t, j): rng.normal() for t, j in dict.fromkeys(zip(task_of, run_index))}  # per task x seed
    z = np.array([shared[(t, j)] for t, j in zip(task_of, run_index)])
    own = rng.normal(size=len(run_system))
    offsets = sd * (np.sqrt(seed_correlation) * z + np.sqrt(1 - seed_correlation) * own)  # points, per run
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


TYDIQA_DEV_SIZES = {"en": 440, "ar": 921, "bn": 113, "fi": 782, "id": 565, "ko": 276, "ru": 812, "sw": 499, "te": 669}


def independent_test_sets(study, sizes: dict[str, int]):
    """A simulated study reshaped like TyDiQA-GoldP: each language its own test set of `sizes[lang]`
    items (the first ones of a simulated language), resampled independently."""
    systems, run_system, tables, _ = study
    tables = {lang: tables[lang][:, :n] for lang, n in sizes.items()}
    return systems, run_system, tables, ItemDesign.build({lang: [f"{lang}-{i}" for i in range(n)]
                                                          for lang, n in sizes.items()})
