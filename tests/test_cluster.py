"""SLURM job sizes from the tokens a job trains on (xlt/workflow/cluster.py)."""
import math

import pandas as pd
import yaml

from xlt.workflow import cluster
from xlt.steps import data

STUDY = yaml.safe_load(open(__import__("pathlib").Path(__file__).resolve().parents[1] / "config.yaml"))


def test_featurize_records_token_counts_that_size_the_jobs(fixtures_dir, tiny_model_dir, tmp_path):
    path = tmp_path / "f.parquet"
    data.featurize("hellaswag", str(fixtures_dir / "hellaswag" / "train.parquet"), str(tiny_model_dir),
                   {"max_length": 32}, str(path))
    stats = cluster.feature_stats(path)
    feats = pd.read_parquet(path)
    assert stats["features"] == len(feats)
    assert stats["sequences"] == sum(len(c) for c in feats["input_ids"])  # one sequence per choice
    assert stats["tokens"] == sum(len(s) for c in feats["input_ids"] for s in c)
    assert cluster.feature_stats(tmp_path / "missing.parquet") is None


def test_runtime_grows_with_tokens_and_passes_not_with_example_counts():
    cfg = {**STUDY, "cluster": {"tokens_per_minute": 100_000, "min_runtime": 1, "max_runtime": 100_000}}
    training = {"epochs": 2, "batch_size": 16, "grad_accum": 2}
    pairs = {"paws_x": {"features": 50_000, "sequences": 50_000, "tokens": 50_000 * 128}}
    windows = {"tydiqa": {"features": 50_000, "sequences": 50_000, "tokens": 50_000 * 384}}
    standard, fgm = {"method": "standard"}, {"method": "fgm"}
    t_pairs = cluster.runtime_minutes(cfg, "paws_x", training, standard, 1, pairs)
    t_windows = cluster.runtime_minutes(cfg, "tydiqa", training, standard, 1, windows)
    assert t_pairs == 1.5 * 2 * 50_000 * 128 / 1e5 == 192 and t_windows == 3 * t_pairs  # 384 vs 128 tokens
    assert cluster.runtime_minutes(cfg, "paws_x", training, fgm, 1, pairs) == 2 * t_pairs  # two passes per step
    assert cluster.runtime_minutes(cfg, "paws_x", training, fgm, 2, pairs) == 4 * t_pairs  # a retry gets more
    steps = cluster.runtime_minutes(cfg, "paws_x", {**training, "max_steps": 100}, standard, 1, pairs)
    assert steps == math.ceil(1.5 * 100 * 32 * 128 / 1e5)
    # before featurisation: published sizes, half the max length per sequence
    guess = cluster.runtime_minutes(cfg, "paws_x", training, standard, 1, {})
    assert guess == math.ceil(1.5 * 2 * cluster.TRAIN_SIZE["paws_x"] * STUDY["features"]["max_length"] / 2 / 1e5)
