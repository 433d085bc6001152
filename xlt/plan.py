"""Which runs the study consists of, and where each artifact lives. rules/common.smk wraps these."""
from __future__ import annotations

from itertools import product

BASELINE = "none"  # the no-intermediate baseline in the {inter} dimension


def intermediate_runs(config: dict) -> list[dict]:
    s = config["study"]
    return [dict(model=m, task=t, variant=v, seed=seed)
            for m, t, v, seed in product(s["models"], s["intermediate"], s["variants"], s["seeds"])]


def target_runs(config: dict) -> list[dict]:
    s = config["study"]
    inters = [(t, v) for t in s["intermediate"] for v in s["variants"]]
    if s["baseline"]:
        inters.append((BASELINE, "standard"))
    return [dict(model=m, inter=i, variant=v, target=tgt, seed=seed)
            for m, (i, v), tgt, seed in product(s["models"], inters, s["targets"], s["seeds"])]


def intermediate_file(model, task, variant, seed, name) -> str:
    """name: checkpoint (folder), dev_metrics.json, train_log.jsonl"""
    return f"results/intermediate/{model}/{task}/{variant}/seed{seed}/{name}"


def target_file(model, inter, variant, target, seed, name) -> str:
    """name: checkpoint (folder), dev_metrics.json, train_log.jsonl"""
    return f"results/target/{model}/{inter}/{variant}/{target}/seed{seed}/{name}"


def eval_file(model, inter, variant, target, seed, lang, kind) -> str:
    """kind: predictions ({id: prediction}) or metrics"""
    return f"results/eval/{model}/{inter}/{variant}/{target}/seed{seed}/{lang}.{kind}.json"


def eval_metric_files(config: dict) -> list[str]:
    return [eval_file(**r, lang=lang, kind="metrics")
            for r in target_runs(config) for lang in config["study"]["targets"][r["target"]]]
