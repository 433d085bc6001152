"""The Snakemake DAG: the demo end to end, strict zero-shot, params-triggered reruns, lint."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xlt.matrix import RUN_KEYS

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
TRAINING_RULES = {"train_intermediate", "train_target"}  # training and model selection (dev) happen here


def snakemake(workdir, *args, configfile=ROOT / "config" / "demo.yaml", check=True):
    cmd = [*SNAKEMAKE, "-d", str(workdir), "--configfile", str(configfile), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    return proc


def dag_jobs(workdir, configfile):
    """Every job of the DAG (rule, input, output), from xlt.dag without running anything."""
    proc = subprocess.run([sys.executable, "-m", "xlt.dag", "--configfile", str(configfile), "--directory", str(workdir)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    proc = snakemake(workdir, "--cores", "2")
    return workdir, proc


@pytest.mark.slow
def test_demo_end_to_end_matrix(demo_run):
    workdir, proc = demo_run
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    m = pd.read_parquet(workdir / "results" / "matrix.parquet")
    assert list(m.columns[:len(RUN_KEYS)]) == RUN_KEYS
    assert pd.read_csv(workdir / "results" / "matrix.csv").shape == m.shape
    inters = demo["study"]["intermediate"] + ["none"]
    seeds = demo["study"]["seeds"]
    metrics = {"paws_x": ["accuracy"], "tydiqa": ["exact_match", "f1"]}
    expected = sum(len(inters) * len(seeds) * len(langs) * len(metrics[t]) for t, langs in demo["study"]["targets"].items())
    assert len(m) == expected
    for target, langs in demo["study"]["targets"].items():
        sub = m[m["target"] == target]
        assert set(sub["language"]) == set(langs)
        assert set(sub["intermediate"]) == set(inters)
        assert set(sub["metric"]) == set(metrics[target])
    assert m["value"].between(0, 100).all()
    assert (m.loc[m["metric"] == "accuracy", "value"] <= 1).all()
    assert "Zero-shot results" in proc.stdout + proc.stderr  # the demo ends by printing the pivot
    # TyDiQA predictions in the official {id: answer_text} format
    preds = next((workdir / "results" / "eval").rglob("tydiqa/seed*/ar.predictions.json"))
    data = yaml.safe_load(preds.read_text())
    assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
    assert all(k.startswith("tydiqa-test-ar-") for k in data)
    # every intermediate run leaves a safetensors checkpoint and dev metrics
    for ckpt in (workdir / "results" / "intermediate").rglob("checkpoint"):
        assert (ckpt / "model.safetensors").exists()
        assert (ckpt.parent / "dev_metrics.json").exists()


@pytest.mark.slow
def test_editing_one_task_learning_rate_reruns_only_its_jobs(demo_run, tmp_path):
    workdir, _ = demo_run
    assert "Nothing to be done" in snakemake(workdir, "-n").stdout
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["training"].setdefault("intermediate", {})["mnli"] = {"learning_rate": 5e-4}
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    out = snakemake(workdir, "-n", "--quiet", "rules", configfile=edited).stdout
    # the dry run's job table: "rule   count"
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    counts.pop("total", None)
    n_targets, n_seeds = len(cfg["study"]["targets"]), len(cfg["study"]["seeds"])
    assert counts == {"train_intermediate": str(n_seeds), "train_target": str(n_targets * n_seeds),
                      "evaluate_paws_x": str(n_seeds), "evaluate_tydiqa": str(n_seeds), "matrix": "1",
                      "all": "1"}, out
    reasons = snakemake(workdir, "-n", configfile=edited).stdout
    jobs = re.findall(r"rule (train_intermediate|train_target|evaluate_\w+):.*?wildcards: ([^\n]+)", reasons, re.S)
    assert jobs and all("mnli" in wc for _, wc in jobs), jobs


@pytest.mark.parametrize("configfile", [ROOT / "config.yaml", ROOT / "config" / "demo.yaml"], ids=["study", "demo"])
def test_strict_zero_shot_no_test_data_reaches_training(configfile, tmp_path):
    """No target `test` split (the only non-English target data) is an ancestor of a training job."""
    jobs = dag_jobs(tmp_path, configfile)
    producers = {out: job["input"] for job in jobs for out in job["output"]}

    def ancestors(paths, seen):
        for path in paths:
            if path not in seen:
                seen.add(path)
                ancestors(producers.get(path, []), seen)
        return seen

    training = [job for job in jobs if job["rule"] in TRAINING_RULES]
    assert len(training) == sum(1 for j in jobs if j["rule"].startswith("train_"))
    for job in training:
        leaked = [p for p in ancestors(job["input"], set()) if p.endswith("/test.parquet")]
        assert not leaked, f"{job['rule']} {job['output']} depends on {leaked}"
    # ... while every evaluation job does read a target's test split
    evals = [job for job in jobs if job["rule"].startswith("evaluate_")]
    assert evals and all(any(p.endswith("/test.parquet") for p in job["input"]) for job in evals)


def test_study_dry_run_lists_the_full_matrix(tmp_path):
    out = snakemake(tmp_path, "-n", "--quiet", "rules", configfile=ROOT / "config.yaml").stdout
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)}
    study = yaml.safe_load((ROOT / "config.yaml").read_text())["study"]
    n_inter, n_seeds = len(study["intermediate"]), len(study["seeds"])
    assert counts["train_intermediate"] == n_inter * n_seeds
    assert counts["train_target"] == (n_inter + 1) * 2 * n_seeds
    assert counts["snapshot_model"] == 1
    print("\nstudy jobs per rule:", counts)


def test_lint_is_clean(tmp_path):
    for cfg in (ROOT / "config.yaml", ROOT / "config" / "demo.yaml"):
        out = snakemake(tmp_path, "--lint", configfile=cfg)
        assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_bad_config_stops_the_dag_with_the_key_named(tmp_path):
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["study"]["intermediate"] = ["mnli", "imdb"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert proc.returncode != 0
    assert "study.intermediate[1]: 'imdb' is not allowed; allowed values: anli_plus" in proc.stdout + proc.stderr
