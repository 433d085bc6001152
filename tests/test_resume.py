"""A killed training job, re-run, continues from its last state and ends with identical metrics — single-task
and multi-task (each task's place in its shuffled epoch and the mixing sampler's state carry over)."""
import json
import os
import subprocess
import sys

import pytest

from xlt.io import read_json
from xlt.steps import data

CFG = {"learning_rate": 3e-3, "batch_size": 8, "grad_accum": 2, "max_steps": 12, "warmup_ratio": 0.1,
       "weight_decay": 0.0, "max_grad_norm": 1.0, "eval_every": 4, "eval_batch_size": 16, "save_every": 3}
MIXING = {"cap": 50, "temperature": 2.0}  # the multi-task run: examples-proportional, capped, flattened
RUN = """
import json, sys
from xlt.steps import train
specs, cfg, out, variant, mixing = json.loads(sys.argv[1])
train.fine_tune_tasks(specs, specs[0]["init"], cfg, 1, out + "/ckpt", out + "/m.json", out + "/log.jsonl", mixing=mixing,
                      variant=variant["method"], variant_block=variant)
"""


@pytest.fixture(scope="module")
def specs(fixtures_dir, tiny_model_dir, tmp_path_factory):
    """{"single": [PAWS-X], "multitask": [PAWS-X, SQuAD]} (classification and span QA: two heads, one body)."""
    tmp = tmp_path_factory.mktemp("resume")
    out = {}
    for task, fcfg in (("paws_x", {"max_length": 48}), ("squad", {"max_length": 96, "doc_stride": 32, "max_query_length": 16})):
        data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), fcfg,
                       str(tmp / f"{task}.parquet"))
        out[task] = {"name": task, "init": str(tiny_model_dir), "train": str(tmp / f"{task}.parquet"),
                     "dev": str(tmp / f"{task}.parquet"), "dev_data": str(fixtures_dir / task / "train.parquet"),
                     "qa": {"n_best": 5, "max_answer_length": 16}}
    return {"single": [out["paws_x"]], "multitask": [out["paws_x"], out["squad"]]}


def run(specs, out, variant, signal_at=None):
    env = {k: v for k, v in os.environ.items() if k != "XLT_SIGNAL_AT_STEP"}
    if signal_at:
        env["XLT_SIGNAL_AT_STEP"] = signal_at
    mixing = MIXING if len(specs) > 1 else None
    return subprocess.run([sys.executable, "-c", RUN, json.dumps([specs, CFG, str(out), variant, mixing])],
                          env=env, capture_output=True, text=True)


def step_rows(log):
    """The training-step records of a train log (JSON lines)."""
    return [r for r in map(json.loads, log.read_text().splitlines()) if "loss" in r]


@pytest.mark.parametrize("tasks, method, signal_at", [
    ("single", "standard", "7:TERM"), ("single", "standard", "7:KILL"), ("single", "smart", "7:TERM"),
    ("single", "smart", "7:KILL"), ("multitask", "freelb", "7:TERM")])
def test_killed_run_resumes_to_identical_metrics(specs, tmp_path, tasks, method, signal_at):
    variant = {"standard": {"method": "standard"}, "smart": {"method": "smart", "bregman": {"mu": 1.0, "beta": 0.9}},
               "freelb": {"method": "freelb", "steps": 2, "adv_lr": 0.1, "init_mag": 0.05}}[method]
    spec = specs[tasks]
    assert run(spec, tmp_path / "whole", variant).returncode == 0
    reference = read_json(tmp_path / "whole" / "m.json")

    first = run(spec, tmp_path / "cut", variant, signal_at)
    assert first.returncode != 0, "the signal should stop the run"
    cut = tmp_path / "cut"
    assert not (cut / "ckpt").exists() and not (cut / "m.json").exists() and not (cut / "log.jsonl").exists()
    state = (cut / "resume" / "state.pt")
    assert state.exists()  # saved on SIGTERM at step 7, or by save_every at step 6 before the KILL
    if signal_at.endswith("TERM"):
        assert "SIGTERM at step 7" in first.stderr

    second = run(spec, cut, variant)
    assert second.returncode == 0, second.stderr[-3000:]
    assert read_json(cut / "m.json")["metrics"] == reference["metrics"]
    assert set(reference["metrics"]) == {sp["name"] for sp in spec}
    resumed, whole = step_rows(cut / "log.jsonl"), step_rows(tmp_path / "whole" / "log.jsonl")
    assert [r["step"] for r in resumed] == list(range(1, 13))  # every step logged exactly once
    assert [r["loss"] for r in resumed] == [r["loss"] for r in whole]
    drawn = [r.get("tasks") for r in resumed]
    assert drawn == [r.get("tasks") for r in whole]
    if tasks == "multitask":  # the mix drew from both tasks, before and after the cut, in the same order
        assert {t for d in drawn[:7] for t in d} == {t for d in drawn[7:] for t in d} == {"paws_x", "squad"}
    assert not (cut / "resume").exists()
