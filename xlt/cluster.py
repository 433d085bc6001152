"""Cluster job sizes: runtime and host memory per training job, scaled by task size and by attempt
(a retried job gets more of both)."""
from __future__ import annotations

import math

from xlt.adversarial import expected_cost
from xlt.plan import MULTITASK, multitask_tasks, split_variant

# Approximate English training-set sizes (public dataset cards); sequences per example for multiple choice.
TRAIN_SIZE = {"anli_plus": 1_100_000, "mnli": 393_000, "qqp": 364_000, "squad": 88_000, "squad_v2": 130_000,
              "hellaswag": 40_000 * 4, "commonsense_qa": 9_700 * 5, "cosmos_qa": 25_000 * 4, "ccg": 40_000,
              "paws_x": 49_000, "tydiqa": 3_700}
DEFAULTS = {"sequences_per_minute": 20_000, "min_runtime": 30, "max_runtime": 4320, "mem_mb": 32_000}


def _cfg(config: dict) -> dict:
    return {**DEFAULTS, **config.get("cluster", {})}


def runtime_minutes(config: dict, task: str, training: dict, variant_block: dict, attempt: int) -> int:
    c = _cfg(config)
    if training.get("max_steps"):
        sequences = training["max_steps"] * training["batch_size"] * training["grad_accum"]
    else:
        tasks = multitask_tasks(config) if task == MULTITASK else [task]
        sequences = sum(TRAIN_SIZE.get(t, 100_000) for t in tasks) * training["epochs"]
    minutes = 1.5 * sequences * expected_cost(variant_block) / c["sequences_per_minute"]  # 1.5: evaluation, I/O
    return int(min(c["max_runtime"], max(c["min_runtime"], math.ceil(minutes))) * attempt)


def mem_mb(config: dict, attempt: int) -> int:
    return int(_cfg(config)["mem_mb"] * attempt)


def target_variant_block(config: dict, label: str) -> dict:
    return config["variants"][split_variant(label)[1]]
