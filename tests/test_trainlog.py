"""A training job's own log (results/logs/train_*/...log) is readable while it runs and after it dies: a
header naming the run, a timestamped line every few steps with loss, learning rate, gradient norm and
throughput, a non-finite loss said the moment it happens, and every step that ran still there after a
SIGKILL (xlt/train/progress.py)."""
import json
import os
import re
import subprocess
import sys

import pytest

from xlt.steps import data, train

CFG = {"learning_rate": 3e-3, "batch_size": 8, "grad_accum": 1, "max_steps": 12, "warmup_ratio": 0.1,
       "weight_decay": 0.0, "max_grad_norm": 1.0, "eval_every": 6, "eval_batch_size": 16, "save_every": 3}
# the job's step as the step runner runs it (xlt/workflow/runner.py): xlt.workflow.warm.execute with the
# training rules' names, log redirection included
JOB = """
import json, sys
from xlt.workflow import warm
kwargs, log = json.loads(sys.argv[1])
warm.execute("xlt.steps.train", "fine_tune", kwargs, log, threads=1, gpu=False, optional={"seed": "3"})
"""
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


@pytest.fixture(scope="module")
def spec(fixtures_dir, tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainlog")
    data.featurize("paws_x", str(fixtures_dir / "paws_x" / "train.parquet"), str(tiny_model_dir), {"max_length": 48},
                   str(tmp / "f.parquet"))
    return {"name": "paws_x", "train": str(tmp / "f.parquet"), "dev": str(tmp / "f.parquet"),
            "dev_data": str(fixtures_dir / "paws_x" / "train.parquet")}


def test_a_killed_jobs_log_has_its_header_and_every_step_that_ran(spec, tiny_model_dir, tmp_path):
    block = {"method": "freelb", "steps": 2, "adv_lr": 0.1, "init_mag": 0.05, "max_norm": 0.3}
    kwargs = {"tasks": ["paws_x"], "init": str(tiny_model_dir), "train_features": [spec["train"]],
              "dev_features": [spec["dev"]], "train_data": [spec["dev_data"]], "dev_data": [spec["dev_data"]],
              "qa": {"paws_x": {}}, "training": CFG, "checkpoint": str(tmp_path / "ckpt"),
              "metrics": str(tmp_path / "m.json"), "train_log": str(tmp_path / "train_log.jsonl"),
              "variant": {"name": "freelb", "block": block}, "stage": "intermediate"}
    log = tmp_path / "job.log"
    env = {**os.environ, "XLT_SIGNAL_AT_STEP": "7:KILL"}
    proc = subprocess.run([sys.executable, "-c", JOB, json.dumps([kwargs, str(log)])], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]  # SIGKILL: nothing ran after step 7
    text = log.read_text()
    head = text.split(" step 1/12")[0]
    for field in ("stage", "model", "tasks", "variant", "variant block", "learning rate", "seed", "steps", "step log"):
        assert re.search(rf"^{STAMP} train: {field} +\S", head, flags=re.M), (field, head)
    assert str(tiny_model_dir) in head and "paws_x" in head and "freelb" in head
    assert "max_norm: 0.3" in head  # the radius the run uses
    assert re.search(r"train: learning rate +0\.003$", head, flags=re.M) and re.search(r"train: seed +3$", head, flags=re.M)
    assert "12 optimizer steps" in head and "train_log.jsonl" in head  # where the per-step loss lives
    steps = re.findall(rf"^{STAMP} step (\d+)/12  loss (\S+)(?: \(mean of \d+ steps\))?  lr (\S+)  grad_norm (\S+)  "
                       r"(\S+) steps/s  (\S+) sequences/s  (\S+) tokens/s$", text, flags=re.M)
    assert [int(s[0]) for s in steps] == list(range(1, 8))  # 12 steps: a line per step; killed after step 7
    assert all(float(s[1]) > 0 and float(s[3]) > 0 and float(s[4]) > 0 and float(s[6].replace(",", "")) > 0 for s in steps)
    assert float(steps[0][2]) == 0 and all(float(s[2]) > 0 for s in steps[1:])  # warmup starts at 0
    assert re.search(rf"^{STAMP} dev at step 6/12: selection score \d", text, flags=re.M)
    assert not re.search(r"train: +\d+%\|", text)  # no training-bar redraws in a log file


def test_a_non_finite_loss_is_reported_when_it_happens(spec, tiny_model_dir, tmp_path, capsys):
    bad = {"method": "fgm", "epsilon": float("nan")}
    cfg = {**CFG, "max_steps": 3, "save_every": None}
    train.fine_tune_tasks([spec], str(tiny_model_dir), {**cfg, "skip_nonfinite_steps": True}, 0, str(tmp_path / "c"),
                          str(tmp_path / "m.json"), str(tmp_path / "log.jsonl"), variant="fgm-nan", variant_block=bad)
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "NON-FINITE at step 1/3" in line)
    assert "skipped (1 so far" in lines[first]
    assert first < next(i for i, line in enumerate(lines) if " step 1/3  loss" in line)  # said before the step line
    with pytest.raises(FloatingPointError):
        train.fine_tune_tasks([spec], str(tiny_model_dir), cfg, 0, str(tmp_path / "d"), str(tmp_path / "m2.json"),
                              str(tmp_path / "log2.jsonl"), variant="fgm-nan", variant_block=bad)
    assert "NON-FINITE at step 1/3: loss nan" in capsys.readouterr().out  # in the log before the traceback
