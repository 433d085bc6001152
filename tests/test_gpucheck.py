"""The prepared GPU check (xlt/bench/gpucheck.py) in its CPU mode: every section runs and records what it
promises, its checks compare real things (a broken attention fails them), errors and the time limit are
recorded per section, and the GPU plan fits its 8 minutes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import xlt.model.attention
from xlt.bench import gpucheck

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpucheck") / "gpucheck.json"
    proc = subprocess.run([sys.executable, "-m", "xlt.bench.gpucheck", "--cpu-smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert out.exists(), proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert proc.returncode == (0 if result["ok"] else 1), proc.stderr[-3000:]
    return result, proc.stdout


def _checks(section):
    assert section["checks"], "a section without checks compares nothing"
    for c in section["checks"]:
        assert {"name", "value", "op", "limit", "ok"} <= set(c)
    return {c["name"]: c for c in section["checks"]}


def test_cpu_smoke_runs_every_section_and_records_it(smoke):
    result, stdout = smoke
    assert result["mode"] == "cpu-smoke" and result["device"]["cuda"] is False
    assert result["order"] == list(gpucheck.SECTIONS) and set(result["sections"]) == set(gpucheck.SECTIONS)
    for name, s in result["sections"].items():
        assert s["status"] in ("ok", "failed"), (name, s.get("error"), s.get("traceback"))
        assert s["wall_s"] > 0 and s["budget_s"] > 0 and s["projected_s"] > 0 and "settings" in s
    assert result["ok"] == all(s["status"] == "ok" for s in result["sections"].values())
    # the reduced mode stays well under a minute: ~20 s on one free core (its CPU time, which a machine busy
    # with other jobs does not stretch as it stretches the wall time)
    assert result["cpu_s"] < 45 and result["wall_s"] > 0
    assert "section" in stdout and "ok:" in stdout and "samples/s" in stdout  # the human-readable table

    att = result["sections"]["attention"]
    checks = _checks(att)
    assert att["status"] == "ok" and len(checks) == 2 * (3 * 2 + 1)  # 2 sides x (3 quantities x 2 precisions + finite)
    for side in ("right", "left"):
        e = att["errors"][side]
        # fp32 agrees to rounding; bf16 really ran in bf16 (eager's own error is far above fp32 rounding)
        assert e["sdpa_fp32_vs_eager_fp32"]["logits"] < 1e-5 < e["eager_bf16_vs_eager_fp32"]["logits"]
    assert att["tolerances"]["fp32"] == gpucheck.TOL_FP32

    comp = result["sections"]["compile"]
    assert set(comp["runs"]) == set(CONFIG["variants"])
    for name, run in comp["runs"].items():
        assert run["steps"] == comp["settings"]["steps"] and run["graphs"] >= 1 and run["graph_breaks"] == 0
        assert set(run["graph_lengths"]) <= set(run["data_buckets"])
    for name, run in comp["runs"].items():  # one graph per bucket for every variant (R3F once compiled two)
        assert run["graphs"] == len(run["data_buckets"]) and run["recompiles"] == 0, name

    mem = result["sections"]["memory"]
    assert {(r["model"], r["config"]) for r in mem["rows"]} == {
        (m, c) for m in mem["settings"]["models"] for c in gpucheck.MEMORY_CONFIGS}
    assert all(r["fits"] and r["s_per_step"] > 0 and r["peak_mem_gb"] is None for r in mem["rows"])  # no CUDA
    assert all(c["ok"] for c in _checks(mem).values())  # LoRA trains fewer parameters

    train = result["sections"]["training"]
    assert train["status"] == "ok" and "xlt/train/loop.py train" in train["loop"]
    assert train["steps"] == train["settings"]["steps"] and train["train_config"]["compile"] is True
    assert 1 <= train["graphs"] <= len(train["data_buckets"]) and train["recompiles"] == 0
    assert all(c["ok"] for c in _checks(train).values())

    bench = result["sections"]["bench"]
    assert all(c["ok"] for c in _checks(bench).values()) and bench["targets"] == []  # goals are GPU-only
    for batch, seq in bench["settings"]["shapes"]:
        at = [r for r in bench["rows"] if (r["batch"], r["seq"]) == (batch, seq)]
        for path in ("hf-eager", "fast"):
            assert {r["variant"] for r in at if r["kind"] == "train" and r["path"] == path} == set(CONFIG["variants"])
            assert any(r["kind"] == "eval" and r["path"] == path for r in at)
    assert {s["shape"] for s in bench["summary"]} == {f"{b}x{s}" for b, s in bench["settings"]["shapes"]}


def _broken(kind):
    original = xlt.model.attention._sdpa_forward

    def forward(self, hidden_states, residual, alibi, attention_mask, **kwargs):
        if kind == "no-alibi":
            alibi = torch.zeros_like(alibi)
        else:  # causal only: the padding part of the mask is lost
            t = hidden_states.shape[1]
            attention_mask = torch.full((t, t), torch.finfo(torch.float32).min).triu(1).view(1, 1, t, t)
        return original(self, hidden_states, residual, alibi, attention_mask, **kwargs)
    return forward


@pytest.mark.parametrize("kind", ["no-alibi", "no-padding-mask"])
def test_a_broken_attention_fails_the_check(kind, tmp_path, monkeypatch):
    monkeypatch.setattr(xlt.model.attention, "_sdpa_forward", _broken(kind))
    result = gpucheck.run_smoke(tmp_path / "g.json", ["attention"], echo=lambda *a: None)
    att = result["sections"]["attention"]
    assert att["status"] == "failed" and result["ok"] is False
    failed = {c["name"] for c in att["checks"] if not c["ok"]}
    left = {n for n in failed if n.startswith("left")}
    assert "left-padded fp32 logits: rel. error SDPA vs eager" in left
    assert "left-padded bf16 inputs_grad: rel. error SDPA vs eager fp32" in left
    if kind == "no-alibi":
        assert "right-padded fp32 logits: rel. error SDPA vs eager" in failed
    else:  # right padding hides pads behind the causal mask: only left padding can see this bug
        assert failed == left


def test_errors_and_the_time_limit_are_recorded_per_section(tmp_path, monkeypatch):
    def boom(*args):
        raise RuntimeError("injected")

    monkeypatch.setitem(gpucheck.RUNNERS, "memory", boom)
    result = gpucheck.run_smoke(tmp_path / "g.json", ["memory", "attention"], echo=lambda *a: None)
    assert result["sections"]["memory"]["status"] == "error" and "injected" in result["sections"]["memory"]["error"]
    assert result["sections"]["attention"]["status"] == "ok" and result["ok"] is False
    assert json.loads((tmp_path / "g.json").read_text())["sections"]["memory"]["status"] == "error"

    result = gpucheck.run_smoke(tmp_path / "h.json", ["attention"], limit_s=0, echo=lambda *a: None)
    assert result["sections"]["attention"]["status"] == "skipped" and result["ok"] is False
    # within a section: items past the deadline are skipped and recorded, not silently dropped
    sec = gpucheck.section_memory(gpucheck.settings(True)["memory"], torch.device("cpu"), gpucheck.Clock(0), CONFIG)
    assert sec["rows"] and all(r["skipped"] == "time budget" for r in sec["rows"])


def test_the_gpu_plan_fits_eight_minutes_and_shrinks_on_slower_gpus():
    h100 = gpucheck.plan({"cuda": True, "name": "NVIDIA H100 80GB HBM3", "memory_gb": 80, "peak_flops": 989e12},
                         smoke=False, config=CONFIG)
    assert h100["fits"] and h100["projected_total_s"] <= gpucheck.LIMIT_S == 480
    assert sum(h100["budget_s"].values()) + h100["startup_s"] == pytest.approx(480)
    assert h100["settings"]["training"]["steps"] == 200 and h100["settings"]["bench"]["steps"] == 10
    assert h100["settings"]["bench"]["shapes"] == [(32, 128), (16, 384)]
    assert h100["settings"]["memory"]["models"] == ["bloom-560m", "bloom-1b7"]
    slow = gpucheck.plan({"cuda": True, "name": "NVIDIA A10G", "memory_gb": 24, "peak_flops": 125e12},
                         smoke=False, config=CONFIG)
    assert slow["settings"]["training"]["steps"] < 200 and slow["settings"]["bench"]["steps"] < 10
    assert slow["settings"]["training"]["steps"] >= slow["settings"]["training"]["min_steps"]
    assert slow["projected_total_s"] > h100["projected_total_s"]


def test_the_study_training_block_resolves_selected_values():
    cfg = {"training": {"defaults": {"learning_rate": "selected", "batch_size": 16}},
           "study": {"selection": {"intermediate": {"grid": {"learning_rate": [1e-5, 5e-5]}}}}}
    assert gpucheck.study_training(cfg) == {"learning_rate": 5e-5, "batch_size": 16}
    with pytest.raises(ValueError, match="training.defaults.learning_rate is `selected`"):
        gpucheck.study_training({"training": {"defaults": {"learning_rate": "selected"}}})
