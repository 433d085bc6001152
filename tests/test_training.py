import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from xlt.steps import data, train
from xlt.io import read_json
from xlt.model.modeling import load_model

ROOT = Path(__file__).resolve().parents[1]

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
    train.fine_tune_tasks([spec], str(model_dir), cfg, seed, str(out / "ckpt"), str(out / "metrics.json"),
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
    train.fine_tune_tasks(specs, str(tiny_model_dir), {**CFG, "max_steps": 12, "eval_every": 6}, 1, str(out / "ckpt"),
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
        train.fine_tune_tasks([target], str(out / "ckpt"), {**CFG, "max_steps": 1}, 1, str(t_out / "ckpt"),
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


def test_each_run_records_its_tokens_step_time_and_peak_gpu_memory(fixtures_dir, tiny_model_dir, tmp_path):
    """Every step logs the real tokens it trained on and its duration; dev_metrics.json sums them into the
    run's throughput. Peak GPU memory is measured where there is a GPU and says None (not measured) where
    there is none — never a made-up number."""
    feats = _features("paws_x", fixtures_dir, tiny_model_dir, tmp_path, max_length=64)
    _, log = _train("paws_x", feats, fixtures_dir, tiny_model_dir, tmp_path / "r")
    steps = [r for r in log if "loss" in r]
    padded = CFG["batch_size"] * CFG["grad_accum"] * 64
    assert steps and all(0 < r["tokens"] < padded and r["step_s"] > 0 for r in steps)
    used = read_json(tmp_path / "r" / "metrics.json")["resources"]
    assert used["steps"] == len(steps) and used["tokens"] == sum(r["tokens"] for r in steps)
    assert used["seconds"] == pytest.approx(sum(r["step_s"] for r in steps), abs=1e-2)
    assert used["tokens_per_minute"] == pytest.approx(60 * used["tokens"] / used["seconds"])
    if torch.cuda.is_available():
        assert used["peak_gpu_memory_bytes"] > 0 and used["device"] != "cpu"
    else:
        assert used["device"] == "cpu" and used["peak_gpu_memory_bytes"] is None


def test_tensorboard_scalars_follow_the_train_log_and_change_nothing(fixtures_dir, tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from xlt.train.tensorboard import event_folder

    assert event_folder("results/target/m/none/standard/paws_x/seed1/dev_metrics.json").as_posix() == \
        "results/tensorboard/target/m/none/standard/paws_x/seed1"
    feats = _features("paws_x", fixtures_dir, tiny_model_dir, tmp_path, max_length=64)
    spec = {"name": "paws_x", "train": feats["train"], "dev": feats["dev"],
            "dev_data": str(fixtures_dir / "paws_x" / "dev.parquet"), "qa": {}}
    out = tmp_path / "tb-run"
    train.fine_tune_tasks([spec], str(tiny_model_dir), CFG, 1, str(out / "ckpt"), str(out / "metrics.json"),
                          str(out / "log.jsonl"), tensorboard=str(tmp_path / "events"))
    plain, log = _train("paws_x", feats, fixtures_dir, tiny_model_dir, tmp_path / "plain")
    assert read_json(out / "metrics.json")["metrics"]["paws_x"] == plain  # writing events changes no result
    events = EventAccumulator(str(tmp_path / "events"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/grad_norm", "train/lr", "train/tokens_per_minute", "dev/selection_score",
            "dev/paws_x/accuracy"} <= tags
    loss = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert loss == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in log if "loss" in r]
    dev = [(e.step, e.value) for e in events.Scalars("dev/paws_x/accuracy")]
    assert dev == [(r["step"], pytest.approx(r["dev"]["paws_x"]["accuracy"], rel=1e-6)) for r in log if "dev" in r]


def test_a_target_run_trains_then_evaluates_in_one_job_with_its_checkpoint_node_local(
        fixtures_dir, tiny_model_dir, tmp_path, monkeypatch):
    """xlt/steps/target.py: training reads only English train/dev; the test split is read after it, by the
    evaluation; the checkpoint lives in the job's scratch folder (the node's tmpdir) and is gone after the
    job — unless it is the rule's output (study.keep_target_checkpoints)."""
    from xlt.steps import evaluate as evaluate_step, target

    feats = _features("paws_x", fixtures_dir, tiny_model_dir, tmp_path, max_length=64)
    test_features = tmp_path / "paws_x-test.parquet"
    data.featurize("paws_x", str(fixtures_dir / "paws_x" / "test.parquet"), str(tiny_model_dir), {"max_length": 64},
                   str(test_features))
    calls = []
    real_fine_tune, real_evaluate = train.fine_tune, evaluate_step.evaluate_languages
    monkeypatch.setattr(train, "fine_tune", lambda **kw: (calls.append(("train", kw)), real_fine_tune(**kw))[1])
    monkeypatch.setattr(evaluate_step, "evaluate_languages",
                        lambda **kw: (calls.append(("evaluate", kw)), real_evaluate(**kw))[1])
    for keep in (False, True):
        run = tmp_path / f"results-{keep}"
        languages = ["en", "de"]
        outputs = {"predictions": [str(run / f"{lang}.predictions.json") for lang in languages],
                   "eval_metrics": [str(run / f"{lang}.metrics.json") for lang in languages]}
        scratch = tmp_path / f"scratch-{keep}"
        scratch.mkdir()
        # the rule's names, as the step runner passes them (rules/target.smk, xlt/workflow/runner.py)
        target.train_and_evaluate(
            tasks=["paws_x"], qa={"paws_x": {}}, init=str(tiny_model_dir), train_features=[feats["train"]],
            dev_features=[feats["dev"]], train_data=[str(fixtures_dir / "paws_x" / "train.parquet")],
            dev_data=[str(fixtures_dir / "paws_x" / "dev.parquet")], test_features=str(test_features),
            test_data=str(fixtures_dir / "paws_x" / "test.parquet"), training={**CFG, "epochs": 1, "attention": "sdpa"}, seed="1",
            **({"checkpoint": str(run / "checkpoint")} if keep else {}), metrics=str(run / "dev_metrics.json"),
            train_log=str(run / "train_log.jsonl"), **outputs, languages=languages, run={"seed": 1},
            variant={"name": "standard", "block": {"method": "standard"}}, stage="target",
            preregistration=str(run / "preregistration.json"), tmpdir=str(scratch),
            config=yaml.safe_load((ROOT / "config" / "demo.yaml").read_text()))
        (step, trained), (then, evaluated) = calls[-2:]
        assert (step, then) == ("train", "evaluate")  # the test split is read after training, not by it
        assert "test.parquet" not in repr(trained) and evaluated["test_features"] == str(test_features)
        assert evaluated["checkpoint"] == trained["checkpoint"]
        if keep:
            assert trained["checkpoint"] == str(run / "checkpoint") and (run / "checkpoint" / "model.safetensors").exists()
        else:
            assert trained["checkpoint"].startswith(str(scratch))  # node-local, and removed after the evaluation
            assert not (run / "checkpoint").exists() and list(scratch.iterdir()) == []
        assert all(read_json(m)["metrics"]["accuracy"] >= 0 for m in outputs["eval_metrics"])
        assert (run / "preregistration.json").exists()  # the first target run declares
        assert (run / "dev_metrics.json").exists() and not (run / "resume").exists()


def test_tensorboard_without_its_package_is_a_config_error_naming_the_key(monkeypatch):
    import copy
    import importlib.util
    from pathlib import Path

    import yaml

    from xlt.workflow.config import ConfigError
    from xlt.workflow.validate import validate_config

    demo = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "demo.yaml").read_text())
    cfg = copy.deepcopy(demo)
    cfg["training"]["tensorboard"] = True
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match=r"training.tensorboard: true needs the tensorboard package.*pip install -e '\.\[tensorboard\]'"):
        validate_config(cfg)
    cfg["training"]["tensorboard"] = False
    validate_config(cfg)
