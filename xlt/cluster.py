"""Cluster job sizes: runtime and host memory per training job, from the tokens it will process, and
growing with each attempt (a retried job gets more of both). `python -m xlt.plan` sums the same estimate
over the study (GPU-hours).

A job's token count comes from its featurised training splits — `featurize` records each split's feature
and token counts in the parquet footer, and Snakemake evaluates a job's resources when the job is
scheduled, after those files exist. Before they exist (a dry run of a fresh study) the published training
sizes and half the max length per sequence stand in (a multiple-choice example is one sequence per
choice). The multi-task mix draws its steps as the training loop does (xlt.training): one epoch is the
sum of the capped task sizes, each task drawn with p ~ min(size, cap)^(1/temperature). Runtime = 1.5
(dev evaluation, I/O) x tokens x the variant's passes / `cluster.tokens_per_minute`, clamped to
[min_runtime, max_runtime] minutes; so a span-QA job of 384-token windows asks for ~3x the time of a
128-token pair job with the same number of features."""
from __future__ import annotations

import json
import math
from pathlib import Path

from xlt.adversarial import expected_cost
from xlt.config import mixing_config
from xlt.plan import MULTITASK, multitask_tasks, split_variant

# Approximate English training-set sizes in examples (public dataset cards) and sequences per example
# (multiple choice: one per choice): the stand-in before the features exist.
TRAIN_SIZE = {"anli_plus": 1_100_000, "mnli": 393_000, "qqp": 364_000, "squad": 88_000, "squad_v2": 130_000,
              "hellaswag": 40_000, "commonsense_qa": 9_700, "cosmos_qa": 25_000, "ccg": 40_000,
              "paws_x": 49_000, "tydiqa": 3_700}
CHOICES = {"hellaswag": 4, "commonsense_qa": 5, "cosmos_qa": 4}
DEFAULTS = {"tokens_per_minute": 8_000_000, "min_runtime": 30, "max_runtime": 4320, "mem_mb": 32_000}


def _cfg(config: dict) -> dict:
    return {**DEFAULTS, **config.get("cluster", {})}


def feature_stats(path: str | Path) -> dict | None:
    """{features, sequences, tokens} of a featurised split (from its parquet footer), or None if absent."""
    path = Path(path)
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"PANDAS_ATTRS", b"{}")).get("token_stats")


def task_sizes(config: dict, tasks: list[str], stats: dict[str, dict | None]) -> dict[str, tuple[float, float]]:
    """{task: (training features, tokens per feature)}: from the featurised split's footer (stats), else
    the stand-in (published size; half the max length per sequence, one sequence per choice)."""
    max_length = config.get("features", {}).get("max_length", 384)
    out = {}
    for t in tasks:
        s = stats.get(t)
        if s:
            out[t] = (s["features"], s["tokens"] / max(1, s["features"]))
        else:
            out[t] = (TRAIN_SIZE.get(t, 100_000), CHOICES.get(t, 1) * max_length / 2)
    return out


def train_tokens(config: dict, task: str, training: dict, stats: dict[str, dict | None]) -> float:
    """Tokens the job trains on: epochs x the (capped) training features, or max_steps x batch x
    accumulation features, x the tokens per feature of the tasks as drawn (stats: {task: feature_stats of
    its train split}). A multi-task job draws as xlt.training does: p ~ min(size, cap)^(1/temperature)."""
    tasks = multitask_tasks(config) if task == MULTITASK else [task]
    mix = mixing_config(config) if task == MULTITASK else {"cap": None, "temperature": 1.0}
    sizes = task_sizes(config, tasks, stats)
    if training.get("max_train_examples"):  # the training loop samples each task down to this
        sizes = {t: (min(n, training["max_train_examples"]), k) for t, (n, k) in sizes.items()}
    capped = {t: min(n, mix["cap"] or n) for t, (n, _) in sizes.items()}
    raw = {t: n ** (1.0 / mix["temperature"]) for t, n in capped.items()}
    per_feature = sum(raw[t] * sizes[t][1] for t in tasks) / max(1e-12, sum(raw.values()))
    features = (training["max_steps"] * training["batch_size"] * training["grad_accum"] if training.get("max_steps")
                else training["epochs"] * sum(capped.values()))
    return features * per_feature


def gpu_minutes(config: dict, task: str, training: dict, variant_block: dict,
                stats: dict[str, dict | None] | None = None) -> float:
    """Estimated GPU minutes of one training job: 1.5 x tokens x the variant's passes / tokens_per_minute."""
    tokens = train_tokens(config, task, training, stats or {})
    return 1.5 * tokens * expected_cost(variant_block) / _cfg(config)["tokens_per_minute"]


def runtime_minutes(config: dict, task: str, training: dict, variant_block: dict, attempt: int,
                    stats: dict[str, dict | None] | None = None) -> int:
    c = _cfg(config)
    minutes = gpu_minutes(config, task, training, variant_block, stats)
    return int(min(c["max_runtime"], max(c["min_runtime"], math.ceil(minutes))) * attempt)


def mem_mb(config: dict, attempt: int) -> int:
    return int(_cfg(config)["mem_mb"] * attempt)


def target_variant_block(config: dict, label: str) -> dict:
    return config["variants"][split_variant(label)[1]]
