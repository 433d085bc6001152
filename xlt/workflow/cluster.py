"""Cluster job sizes: runtime and host memory per training job, from the tokens it will process, and
growing with each attempt (a retried job gets more of both). `python -m xlt.analysis.planning` sums the same estimate
over the study (GPU-hours).

A job's token count comes from its featurised training splits — `featurize` records each split's feature
and token counts in the parquet footer, and Snakemake evaluates a job's resources when the job is
scheduled, after those files exist. Before they exist (a dry run of a fresh study) the published training
sizes and half the max length per sequence stand in (a multiple-choice example is one sequence per
choice). The multi-task mix draws its steps as the training loop does (xlt.train.loop): one epoch is the
sum of the capped task sizes, each task drawn with p ~ min(size, cap)^(1/temperature). Runtime = 1.5
(dev evaluation, I/O) x tokens x the variant's passes / `cluster.tokens_per_minute`, clamped to
[min_runtime, max_runtime] minutes; so a span-QA job of 384-token windows asks for ~3x the time of a
128-token pair job with the same number of features.

`cluster.tokens_per_minute` is bloom-560m's throughput (`cluster.reference_parameters`). Another model
trains at that x reference parameters / its parameters (training FLOPs per token ~ 6 N: Kaplan et al.
2020), unless `models.<name>.tokens_per_minute` says its own; LoRA (no weight gradients of the frozen
body: ~4 N) and activation checkpointing (one more forward: +2 N) scale it by 6 N / their FLOPs."""
from __future__ import annotations

import json
import math
from pathlib import Path

from xlt.adversarial.methods import expected_cost
from xlt.workflow.config import mixing_config, schema_defaults
from xlt.workflow.designs import model_names
from xlt.workflow.plan import MULTITASK, model_dir, multitask_tasks, split_variant

# Approximate English training-set sizes in examples (public dataset cards) and sequences per example
# (multiple choice: one per choice): the stand-in before the features exist.
TRAIN_SIZE = {"anli_plus": 1_100_000, "mnli": 393_000, "qqp": 364_000, "squad": 88_000, "squad_v2": 130_000,
              "hellaswag": 40_000, "commonsense_qa": 9_700, "cosmos_qa": 25_000, "ccg": 40_000,
              "paws_x": 49_000, "tydiqa": 3_700}
CHOICES = {"hellaswag": 4, "commonsense_qa": 5, "cosmos_qa": 4}

# Bloom bodies from the models' published config.json: (hidden_size, n_layer, vocab_size)
BLOOM_ARCHITECTURE = {"bigscience/bloom-560m": (1024, 24, 250880), "bigscience/bloom-1b1": (1536, 24, 250880),
                      "bigscience/bloom-1b7": (2048, 24, 250880), "bigscience/bloom-3b": (2560, 30, 250880),
                      "bigscience/bloom-7b1": (4096, 30, 250880)}


def _cfg(config: dict) -> dict:
    """The cluster block with the schema's defaults (bloom-560m is the model tokens_per_minute is for)."""
    return {**schema_defaults("cluster"), **config.get("cluster", {})}


def bloom_parameters(hidden: int, layers: int, vocab: int) -> int:
    """Tied word embeddings + their layer norm + per block (2 layer norms, fused QKV, output projection,
    4h MLP, all with biases: 12 h^2 + 13 h) + the final layer norm. bloom-560m: 559,214,592 (its card)."""
    h = hidden
    return vocab * h + 2 * h + layers * (12 * h * h + 13 * h) + 2 * h


def parameters(config: dict, model: str, directory: Path = Path(".")) -> int | None:
    """Parameters of a Bloom body: from the snapshot's config.json if present, else the demo spec or the
    published architecture; None when unknown (a non-Bloom model not yet snapshotted)."""
    spec = config["models"][model]
    local = directory / model_dir(model) / "config.json"
    if local.exists():
        c = json.loads(local.read_text())
        if c.get("model_type") != "bloom":
            return None
        arch = (c["hidden_size"], c["n_layer"], c["vocab_size"])
    elif "demo" in spec:
        arch = (spec["demo"]["hidden_size"], spec["demo"]["n_layer"], spec["demo"]["vocab_size"])
    else:
        arch = BLOOM_ARCHITECTURE.get(spec.get("hub"))
        if arch is None:
            return None
    return bloom_parameters(*arch)


def tokens_per_minute(config: dict, training: dict | None = None) -> float:
    """Training throughput of a one-model config's (a view's) model under `training`: see the module doc."""
    c, names = _cfg(config), model_names(config)
    rate = c["tokens_per_minute"]
    if len(names) == 1 and names[0] in config.get("models", {}):
        spec = config["models"][names[0]]
        n = parameters(config, names[0])
        rate = spec.get("tokens_per_minute") or (rate * c["reference_parameters"] / n if n else rate)
    training = training or {}
    flops = 6 - 2 * bool(training.get("lora")) + 2 * bool(training.get("gradient_checkpointing"))
    return rate * 6 / flops


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
    its train split}). A multi-task job draws as xlt.train.loop does: p ~ min(size, cap)^(1/temperature)."""
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


OVERHEAD = 1.5  # a job's wall time per training-step time (start-up, dev evaluations, saving): the pilot measures it


def gpu_minutes(config: dict, task: str, training: dict, variant_block: dict,
                stats: dict[str, dict | None] | None = None) -> float:
    """Estimated GPU minutes of one training job: 1.5 x tokens x the variant's passes / the model's
    tokens_per_minute (for `training`)."""
    tokens = train_tokens(config, task, training, stats or {})
    return OVERHEAD * tokens * expected_cost(variant_block) / tokens_per_minute(config, training)


def runtime_minutes(config: dict, task: str, training: dict, variant_block: dict, attempt: int,
                    stats: dict[str, dict | None] | None = None) -> int:
    c = _cfg(config)
    minutes = gpu_minutes(config, task, training, variant_block, stats)
    return int(min(c["max_runtime"], max(c["min_runtime"], math.ceil(minutes))) * attempt)


def mem_mb(config: dict, attempt: int) -> int:
    return int(_cfg(config)["mem_mb"] * attempt)


def target_variant_block(config: dict, label: str) -> dict:
    return config["variants"][split_variant(label)[1]]
