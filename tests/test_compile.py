"""Compiled training bodies (xlt/model/compiling.py): one graph per length bucket, adversarial passes reuse it,
and compiled training matches eager training to float rounding."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch._dynamo import register_backend

import xlt.train.loop
from xlt.steps import data, train

GRAPHS = []


@register_backend(name="xlt_graph_counter")
def _count(gm, example_inputs):
    GRAPHS.append([tuple(t.shape) for t in example_inputs if hasattr(t, "shape")])
    return gm.forward  # run eagerly: the count is what is tested


@pytest.fixture()
def varied(fixtures_dir, tiny_model_dir, tmp_path):
    """PAWS-X features cut to lengths 6..48, so length-grouped batches fall into several 16-token buckets."""
    path = tmp_path / "f.parquet"
    data.featurize("paws_x", str(fixtures_dir / "paws_x" / "train.parquet"), str(tiny_model_dir), {"max_length": 48},
                   str(path))
    feats = pd.read_parquet(path)
    rng = np.random.default_rng(0)
    feats["input_ids"] = [list(ids[:int(rng.integers(6, len(ids) + 1))]) for ids in feats["input_ids"]]
    feats.to_parquet(path)
    return {"name": "paws_x", "train": str(path), "dev": str(path),
            "dev_data": str(fixtures_dir / "paws_x" / "train.parquet")}


def _log(path):
    return [json.loads(line) for line in open(path)]


@pytest.mark.parametrize("method", ["standard", "fgm", "pgd", "freelb", "smart", "r3f"])
def test_a_run_compiles_once_per_length_bucket(method, varied, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_COMPILE_BACKEND", "xlt_graph_counter")
    monkeypatch.setattr(xlt.train.loop, "BUCKET", 16)
    torch._dynamo.reset()
    GRAPHS.clear()
    cfg = {"learning_rate": 1e-3, "batch_size": 8, "epochs": 2, "eval_every": 1000, "group_by_length": True,
           "compile": True}
    train.fine_tune_tasks([varied], str(tiny_model_dir), cfg, 0, str(tmp_path / "c"), str(tmp_path / "m.json"),
                          str(tmp_path / "l.jsonl"), variant=method, variant_block={"method": method})
    steps = [r for r in _log(tmp_path / "l.jsonl") if "loss" in r]
    lengths = {shape[1] for shapes in GRAPHS for shape in shapes[:1]}
    buckets = {16, 32, 48}
    print(f"\n{method}: {len(steps)} steps, {len(GRAPHS)} graph(s), lengths {sorted(lengths)}")
    assert len(steps) == 24 and 2 <= len(GRAPHS) <= len(buckets)  # several buckets used
    assert lengths <= buckets and len(GRAPHS) == len(lengths)  # each compiled once (R3F once compiled two)


def test_compiled_training_matches_eager_training(varied, tiny_model_dir, tmp_path, monkeypatch):
    """Inductor on CPU, FGM (input gradients with a retained graph): step losses within float rounding."""
    monkeypatch.setenv("XLT_COMPILE_BACKEND", "inductor")
    torch._dynamo.reset()
    cfg = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 6, "eval_every": 6, "group_by_length": True}
    losses = {}
    for compiled in (False, True):
        out = tmp_path / str(compiled)
        train.fine_tune_tasks([varied], str(tiny_model_dir), {**cfg, "compile": compiled}, 0, str(out / "c"),
                              str(out / "m.json"), str(out / "l.jsonl"), variant="fgm",
                              variant_block={"method": "fgm", "epsilon": 0.05, "scale": "embedding"})
        losses[compiled] = [r["loss"] for r in _log(out / "l.jsonl") if "loss" in r]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4, atol=1e-5)
