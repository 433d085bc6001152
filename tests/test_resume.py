"""A killed training job, re-run, continues from its last state and ends with identical metrics."""
import json
import os
import subprocess
import sys

import pytest

from xlt.io import read_json
from xlt.steps import data

CFG = {"learning_rate": 3e-3, "batch_size": 8, "grad_accum": 2, "max_steps": 12, "warmup_ratio": 0.1,
       "weight_decay": 0.0, "max_grad_norm": 1.0, "eval_every": 4, "eval_batch_size": 16, "save_every": 3}
RUN = """
import json, sys
from xlt.steps import train
spec, cfg, out, variant = json.loads(sys.argv[1])
train.fine_tune([spec], spec["init"], cfg, 1, out + "/ckpt", out + "/m.json", out + "/log.jsonl",
                variant=variant["method"], variant_block=variant)
"""


@pytest.fixture(scope="module")
def spec(fixtures_dir, tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    data.featurize("paws_x", str(fixtures_dir / "paws_x" / "train.parquet"), str(tiny_model_dir),
                   {"max_length": 48}, str(tmp / "f.parquet"))
    return {"name": "paws_x", "init": str(tiny_model_dir), "train": str(tmp / "f.parquet"), "dev": str(tmp / "f.parquet"),
            "dev_data": str(fixtures_dir / "paws_x" / "train.parquet")}


def run(spec, out, variant, signal_at=None):
    env = {k: v for k, v in os.environ.items() if k != "XLT_SIGNAL_AT_STEP"}
    if signal_at:
        env["XLT_SIGNAL_AT_STEP"] = signal_at
    return subprocess.run([sys.executable, "-c", RUN, json.dumps([spec, CFG, str(out), variant])],
                          env=env, capture_output=True, text=True)


@pytest.mark.parametrize("signal_at", ["7:TERM", "7:KILL"])
@pytest.mark.parametrize("method", ["standard", "smart"])
def test_killed_run_resumes_to_identical_metrics(spec, tmp_path, signal_at, method):
    variant = {"method": method} if method == "standard" else {"method": "smart", "bregman": {"mu": 1.0, "beta": 0.9}}
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
    steps = [r["step"] for r in map(json.loads, open(cut / "log.jsonl")) if "loss" in r]
    assert steps == list(range(1, 13))  # every step logged exactly once
    whole = [r["loss"] for r in map(json.loads, open(tmp_path / "whole" / "log.jsonl")) if "loss" in r]
    assert [r["loss"] for r in map(json.loads, open(cut / "log.jsonl")) if "loss" in r] == whole
    assert not (cut / "resume").exists()
