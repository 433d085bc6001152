import json

import pandas as pd
import pytest
import torch

from xlt.steps import data, train
from xlt.io import read_json
from xlt.model.modeling import load_model

CFG = {"learning_rate": 3e-3, "batch_size": 16, "grad_accum": 2, "epochs": 3, "warmup_ratio": 0.1,
       "weight_decay": 0.0, "max_grad_norm": 1.0, "eval_every": 2, "eval_batch_size": 32}
QA = {"n_best": 5, "max_answer_length": 8}


def _features(task, fixtures_dir, model_dir, tmp_path, **fcfg):
    paths = {}
    for split in ("train", "dev"):
        out = tmp_path / f"{task}-{split}.parquet"
        data.featurize(task, str(fixtures_dir / task / f"{split}.parquet"), str(model_dir), fcfg, str(out))
        paths[split] = str(out)
    return paths


def _train(task, feats, fixtures_dir, model_dir, out, seed=1, cfg=CFG):
    spec = {"name": task, "train": feats["train"], "dev": feats["dev"],
            "dev_data": str(fixtures_dir / task / "dev.parquet"), "qa": QA if task in ("squad", "tydiqa") else {}}
    train.fine_tune([spec], str(model_dir), cfg, seed, str(out / "ckpt"), str(out / "metrics.json"),
                    str(out / "log.jsonl"))
    return read_json(out / "metrics.json")["metrics"][task], [json.loads(line) for line in open(out / "log.jsonl")]


@pytest.mark.parametrize("task,fcfg", [("paws_x", {"max_length": 64}),
                                       ("tydiqa", {"max_length": 96, "doc_stride": 32, "max_query_length": 16})])
def test_same_seed_gives_identical_metrics(task, fcfg, fixtures_dir, tiny_model_dir, tmp_path):
    feats = _features(task, fixtures_dir, tiny_model_dir, tmp_path, **fcfg)
    m1, log1 = _train(task, feats, fixtures_dir, tiny_model_dir, tmp_path / "a")
    m2, log2 = _train(task, feats, fixtures_dir, tiny_model_dir, tmp_path / "b")
    assert m1 == m2
    assert [r.get("loss") for r in log1] == [r.get("loss") for r in log2]
    _, log3 = _train(task, feats, fixtures_dir, tiny_model_dir, tmp_path / "c", seed=2)
    assert [r.get("loss") for r in log1] != [r.get("loss") for r in log3]  # the seed matters


def test_checkpoint_is_best_dev_and_reloads(fixtures_dir, tiny_model_dir, tmp_path):
    feats = _features("paws_x", fixtures_dir, tiny_model_dir, tmp_path, max_length=64)
    metrics, log = _train("paws_x", feats, fixtures_dir, tiny_model_dir, tmp_path / "r")
    evals = [r for r in log if "dev" in r]
    best = max(evals, key=lambda r: r["dev"]["paws_x"]["accuracy"])
    assert metrics["accuracy"] == best["dev"]["paws_x"]["accuracy"] and metrics["step"] == best["step"]
    ckpt = tmp_path / "r" / "ckpt"
    assert (ckpt / "model.safetensors").exists() and (ckpt / "heads.safetensors").exists()
    model = load_model(ckpt)
    assert model.specs == {"paws_x": {"format": "classification", "num_labels": 2}}
    # the next stage starts from this body with a fresh head
    from xlt.model.modeling import build_model

    fresh = build_model(ckpt, {"tydiqa": {"format": "span_qa", "num_labels": 0}}, seed=0)
    torch.testing.assert_close(fresh.body.state_dict()["h.0.mlp.dense_4h_to_h.weight"],
                               model.body.state_dict()["h.0.mlp.dense_4h_to_h.weight"])


def test_training_lowers_the_loss(fixtures_dir, tiny_model_dir, tmp_path):
    feats = _features("paws_x", fixtures_dir, tiny_model_dir, tmp_path, max_length=64)
    _, log = _train("paws_x", feats, fixtures_dir, tiny_model_dir, tmp_path / "l",
                    cfg={**CFG, "epochs": 15, "grad_accum": 1, "eval_every": 1000})
    losses = [r["loss"] for r in log if "loss" in r]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses


def test_multitask_shares_one_body_and_transfer_can_keep_a_compatible_head(fixtures_dir, tiny_model_dir, tmp_path):
    specs = []
    for task, fcfg in (("paws_x", {"max_length": 48}), ("squad", {"max_length": 96, "doc_stride": 32, "max_query_length": 16})):
        feats = _features(task, fixtures_dir, tiny_model_dir, tmp_path, **fcfg)
        specs.append({"name": task, "train": feats["train"], "dev": feats["dev"],
                      "dev_data": str(fixtures_dir / task / "dev.parquet"), "qa": QA})
    out = tmp_path / "multi"
    train.fine_tune(specs, str(tiny_model_dir), {**CFG, "max_steps": 12, "eval_every": 6}, 1, str(out / "ckpt"),
                    str(out / "m.json"), str(out / "log.jsonl"), mixing={"cap": 50, "temperature": 1.0})
    metrics = read_json(out / "m.json")["metrics"]
    assert set(metrics) == {"paws_x", "squad"} and "f1" in metrics["squad"] and "accuracy" in metrics["paws_x"]
    log = [json.loads(line) for line in open(out / "log.jsonl")]
    assert log[0]["sampling_weights"] == {"paws_x": 0.5, "squad": 0.5}  # both capped at 50 examples
    drawn = {t for r in log if "tasks" in r for t in r["tasks"]}
    assert drawn == {"paws_x", "squad"}
    model = load_model(out / "ckpt")
    assert set(model.heads) == {"paws_x", "squad"}

    tydiqa = _features("tydiqa", fixtures_dir, tiny_model_dir, tmp_path, max_length=96, doc_stride=32, max_query_length=16)
    target = {"name": "tydiqa", "train": tydiqa["train"], "dev": tydiqa["dev"],
              "dev_data": str(fixtures_dir / "tydiqa" / "dev.parquet"), "qa": QA}
    for keep, expected in ((False, {}), (True, {"tydiqa": "squad"})):
        t_out = tmp_path / f"target-{keep}"
        train.fine_tune([target], str(out / "ckpt"), {**CFG, "max_steps": 1}, 1, str(t_out / "ckpt"),
                        str(t_out / "m.json"), str(t_out / "log.jsonl"), keep_compatible_head=keep)
        assert read_json(t_out / "m.json")["reused_heads"] == expected
    # the kept head starts as the intermediate SQuAD head, weight for weight
    from xlt.model.modeling import build_model, load_heads

    fresh = build_model(out / "ckpt", {"tydiqa": {"format": "span_qa", "num_labels": 0}})
    load_heads(fresh, out / "ckpt", {"tydiqa": "squad"})
    torch.testing.assert_close(fresh.heads["tydiqa"].out.weight, model.heads["squad"].out.weight)


def test_fast_evaluation_predicts_what_the_plain_loop_predicted(fixtures_dir, tiny_model_dir, tmp_path, tokenizer):
    """Length-sorted, inference-mode, array-batched evaluation with the vectorised n-best gives the same
    predictions as scoring the features in file order, batch by batch, with the nested n-best loop."""
    import torch

    from test_formats import _reference_span_predictions
    from xlt.model.formats import pad_batch
    from xlt.model.modeling import build_model, head_spec
    from xlt.steps import data
    from xlt.steps.train import task_spec
    from xlt.train.loop import evaluate

    for task, fmt, fcfg in (("paws_x", "classification", {"max_length": 48}),
                            ("tydiqa", "span_qa", {"max_length": 64, "doc_stride": 16, "max_query_length": 16})):
        path = tmp_path / f"{task}.parquet"
        data.featurize(task, str(fixtures_dir / task / "test.parquet"), str(tiny_model_dir), fcfg, str(path))
        feats, examples = pd.read_parquet(path), pd.read_parquet(fixtures_dir / task / "test.parquet")
        model = build_model(tiny_model_dir, {"t": head_spec(fmt, 2 if fmt == "classification" else 0)}, seed=1)
        spec = task_spec(task, {"n_best": 10, "max_answer_length": 16} if fmt == "span_qa" else {})
        fast, _ = evaluate(model, feats, examples, spec, tokenizer.pad_token_id, batch_size=16)
        model.eval()
        chunks = []
        with torch.no_grad():  # the plain path: file order, padded per batch from the rows
            for i in range(0, len(feats), 16):
                ids, mask = pad_batch(feats["input_ids"].iloc[i:i + 16].tolist(), tokenizer.pad_token_id)
                chunks.append(model(input_ids=ids, attention_mask=mask, task="t").float())
        if fmt == "span_qa":
            plain = _reference_span_predictions(feats, chunks, examples, n_best=10, max_answer_length=16)
        else:
            plain = dict(zip(feats["example_id"], torch.cat(chunks).argmax(-1).tolist()))
        assert fast == plain and len(fast) == len(examples)
