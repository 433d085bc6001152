"""Cluster job sizes: runtime and host memory per training job, from the tokens it will process, and
growing with each attempt (a retried job gets more of both).

A job's token count comes from its featurised training splits — `featurize` records each split's feature
and token counts in the parquet footer, and Snakemake evaluates a job's resources when the job is
scheduled, after those files exist. Before they exist (a dry run of a fresh study) the published training
sizes and half the max length per sequence stand in. Runtime = 1.5 (dev evaluation, I/O) x tokens x the
variant's passes / `cluster.tokens_per_minute`, clamped to [min_runtime, max_runtime] minutes; so a span-QA
job of 384-token windows asks for ~3x the time of a 128-token pair job with the same number of features."""
from __future__ import annotations

import json
import math
from pathlib import Path

from xlt.adversarial import expected_cost
from xlt.plan import MULTITASK, multitask_tasks, split_variant

# Approximate English training-set sizes (public dataset cards), features per example for multiple choice:
# the stand-in before the features exist.
TRAIN_SIZE = {"anli_plus": 1_100_000, "mnli": 393_000, "qqp": 364_000, "squad": 88_000, "squad_v2": 130_000,
              "hellaswag": 40_000 * 4, "commonsense_qa": 9_700 * 5, "cosmos_qa": 25_000 * 4, "ccg": 40_000,
              "paws_x": 49_000, "tydiqa": 3_700}
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


def train_tokens(config: dict, task: str, training: dict, stats: dict[str, dict | None]) -> float:
    """Tokens the job trains on: epochs x the tasks' training tokens, or max_steps x batch x accumulation x
    tokens per feature (stats: {task: feature_stats of its train split})."""
    tasks = multitask_tasks(config) if task == MULTITASK else [task]
    max_length = config.get("features", {}).get("max_length", 384)
    per_task = {}
    for t in tasks:
        s = stats.get(t)
        if s:
            per_task[t] = (s["features"], s["tokens"] / max(1, s["features"]))
        else:  # stand-in: the published size, half the max length per sequence
            per_task[t] = (TRAIN_SIZE.get(t, 100_000), max_length / 2)
    if training.get("max_steps"):
        per_feature = sum(n * k for n, k in per_task.values()) / max(1, sum(n for n, _ in per_task.values()))
        return training["max_steps"] * training["batch_size"] * training["grad_accum"] * per_feature
    return training["epochs"] * sum(n * k for n, k in per_task.values())


def runtime_minutes(config: dict, task: str, training: dict, variant_block: dict, attempt: int,
                    stats: dict[str, dict | None] | None = None) -> int:
    c = _cfg(config)
    tokens = train_tokens(config, task, training, stats or {})
    minutes = 1.5 * tokens * expected_cost(variant_block) / c["tokens_per_minute"]
    return int(min(c["max_runtime"], max(c["min_runtime"], math.ceil(minutes))) * attempt)


def mem_mb(config: dict, attempt: int) -> int:
    return int(_cfg(config)["mem_mb"] * attempt)


def target_variant_block(config: dict, label: str) -> dict:
    return config["variants"][split_variant(label)[1]]
