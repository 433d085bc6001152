"""Each format's head, labels and loss line up: a tiny model overfits a small training set."""
import pandas as pd
import pytest

from xlt.steps import data, train
from xlt.io import read_json

FEATURES = {"classification": {"max_length": 48}, "multiple_choice": {"max_length": 32},
            "tagging": {"max_length": 64}, "span_qa": {"max_length": 96, "doc_stride": 32, "max_query_length": 16}}
CASES = [("paws_x", "classification", "accuracy", 0.9), ("hellaswag", "multiple_choice", "accuracy", 0.9),
         ("ccg", "tagging", "accuracy", 0.9), ("squad", "span_qa", "f1", 90.0)]


@pytest.mark.parametrize("task,fmt,metric,threshold", CASES, ids=[c[1] for c in CASES])
def test_tiny_model_overfits_small_training_set(task, fmt, metric, threshold, fixtures_dir, tiny_model_dir, tmp_path):
    small = pd.read_parquet(fixtures_dir / task / "train.parquet").head(16)
    small.to_parquet(tmp_path / "train.parquet")
    feats = tmp_path / "train.features.parquet"
    data.featurize(task, str(tmp_path / "train.parquet"), str(tiny_model_dir), FEATURES[fmt], str(feats))
    spec = {"name": task, "train": str(feats), "dev": str(feats), "dev_data": str(tmp_path / "train.parquet"),
            "qa": {"n_best": 10, "max_answer_length": 16}}
    cfg = {"learning_rate": 3e-3, "batch_size": 8, "grad_accum": 1, "max_steps": 160, "warmup_ratio": 0.05,
           "weight_decay": 0.0, "max_grad_norm": 1.0, "eval_every": 40, "eval_batch_size": 16}
    train.fine_tune_tasks([spec], str(tiny_model_dir), cfg, 0, str(tmp_path / "ckpt"), str(tmp_path / "m.json"),
                          str(tmp_path / "log.jsonl"))
    score = read_json(tmp_path / "m.json")["metrics"][task][metric]
    print(f"\n{fmt}: training-set {metric} after 160 steps = {score:.3f}")
    assert score >= threshold
