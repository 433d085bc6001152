"""The workflow on a real single-node SLURM through `--profile slurm`, as users run it on a cluster.

The executor path is what is tested here — sbatch submission of every non-local rule, sacct polling,
retries after a preempted job, resume from its saved state, plain interpreters instead of warm workers, a
target run and its evaluation in one SLURM job with the checkpoint in the node's tmpdir — so the run is a
cut of the demo up to its results matrix (one intermediate task in both variants, the baseline, PAWS-X, one
seed: 14 SLURM jobs, 16 submissions with the two retries) rather than all of it. Its matrix must equal a local run of the same cut with warm workers. What it
leaves out runs locally only: the other rules in the demo tests, kill-and-resume of a multi-task run in
tests/test_resume.py."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow_runs import SNAKEMAKE

ROOT = Path(__file__).resolve().parents[1]
START_SLURM = ROOT / "scripts" / "start-local-slurm.sh"
MATRIX = "results/matrix.parquet"  # the run's target: every training and evaluation job, then the matrix
PREEMPTED = "intermediate/tiny-bloom/mnli"  # these training jobs get SIGTERM at step 2 of their first attempt


@pytest.fixture(scope="module")
def slurm_cluster(needs_outside):
    """A real single-node SLURM: the one that answers, or one the project's script installs and starts (a
    fresh machine has none; as root with apt-get, about a minute). Where the script cannot (exit 2: not
    root, no apt-get, no package mirror) the test is skipped, or fails under CI=true."""
    proc = subprocess.run(["bash", str(START_SLURM)], capture_output=True, text=True, timeout=900)
    if proc.returncode == 2:
        why = proc.stderr.strip().removeprefix("start-local-slurm: cannot start a SLURM here: ")
        needs_outside(f"no SLURM runs here and {START_SLURM.relative_to(ROOT)} cannot start one: {why}")
    if proc.returncode != 0:
        pytest.fail(f"{START_SLURM} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return True


def slurm_cut_of_the_demo() -> dict:
    """config/demo.yaml cut to what the executor path needs: MNLI in the standard and FreeLB variants (a
    fixed radius: no calibration runs), the baseline, PAWS-X in every language, one seed in one wave, the
    learning rates as declared (no selection runs), no multi-task mix."""
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    study = cfg["study"]
    for key in ("waves", "calibration", "selection", "multitask_tasks"):
        study.pop(key, None)
    study.update(intermediate=["mnli"], multitask=False, variants=["standard", "freelb"], seeds=[1],
                 targets={"paws_x": study["targets"]["paws_x"]})
    cfg["training"]["intermediate"]["mnli"].pop("learning_rate")
    cfg["training"].pop("target")
    cfg["variants"]["freelb"]["budget"] = "fixed"
    return cfg


def slurm_overrides() -> list[str]:
    """Command-line settings over the real profile for a 2-CPU test node: fast polling, no GPUs, small jobs
    (command-line values replace the profile's)."""
    gpu_rules = ["train_intermediate", "train_multitask", "train_target_paws_x", "train_target_tydiqa", "calibrate_point",
                 "select_point"]
    sized = gpu_rules + ["featurize"]
    return ["--jobs", "2", "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "2",
            "--default-resources", "mem_mb=1000", "runtime=10", "slurm_account=root",
            "--set-resources", *[f"{r}:gpu=0" for r in gpu_rules], *[f"{r}:cpus_per_task=1" for r in sized],
            *[f"{r}:mem_mb=1000" for r in sized]]


def test_the_cut_is_the_demo_less_its_extra_arms(tmp_path):
    """The cut keeps every stage from data to the matrix (the plan counts its jobs), with no selection,
    calibration or interim jobs; each target run is one job that also evaluates it: 14 cluster jobs (the
    data preparation runs on the submit host); it validates as a config."""
    from xlt.analysis import planning
    from xlt.workflow.validate import validate_config

    cfg = slurm_cut_of_the_demo()
    validate_config(cfg)
    counts = planning.job_counts(cfg)
    assert counts["train_intermediate"] == 2 and counts["train_target_paws_x"] == 3
    assert not {"select_point", "calibrate_point", "interim", "train_multitask", "train_target_tydiqa"} & set(counts)
    assert not [rule for rule in counts if rule.startswith("evaluate")]  # evaluation happens in the target job
    assert {"featurize", "matrix"} <= set(counts)
    to_matrix = {r: n for r, n in counts.items() if planning.stage_of(r) != "report" or r == "matrix"}  # its target
    assert planning.cluster_jobs(to_matrix) == 14 and counts["prepare_dataset"] == 6


@pytest.mark.slow
@pytest.mark.slurm
def test_cut_of_the_demo_on_real_slurm_matches_local_run_and_retries_a_preempted_job(slurm_cluster, tmp_path):
    configfile = tmp_path / "slurm-cut.yaml"
    configfile.write_text(yaml.safe_dump(slurm_cut_of_the_demo()))
    base = {**os.environ, "HF_HUB_OFFLINE": "1"}
    local = tmp_path / "local"
    proc = subprocess.run([*SNAKEMAKE, "-d", str(local), "--configfile", str(configfile), "--cores", "2", MATRIX],
                          capture_output=True, text=True, env=base)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    # the profile by name, as the README's set-up installs it (into a temporary config directory here)
    env = {**base, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XLT_SIGNAL_AT_STEP": f"2:TERM@{PREEMPTED}"}
    subprocess.run([sys.executable, "-m", "xlt.workflow.slurm_profile", "install"], env=env, check=True, capture_output=True)
    remote = tmp_path / "slurm"
    # the target before the overrides: --set-resources takes every word after it
    cmd = [*SNAKEMAKE, "-d", str(remote), "--configfile", str(configfile), "--profile", "slurm", MATRIX, *slurm_overrides()]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "SLURM run ID:" in out and "has been submitted with SLURM jobid" in out, out[-4000:]
    assert out.count("Error in rule train_intermediate") == 2 and out.count("Trying to restart job") == 2, out[-4000:]
    # the retried jobs resumed after step 2 from the state saved on SIGTERM, not from scratch
    for variant in ("standard", "freelb"):
        log = remote / "results" / "intermediate" / "tiny-bloom" / "mnli" / variant / "seed1" / "train_log.jsonl"
        assert '{"resumed_at_step": 3}' in log.read_text().splitlines(), variant
    pd.testing.assert_frame_equal(pd.read_parquet(local / "results" / "matrix.parquet"),
                                  pd.read_parquet(remote / "results" / "matrix.parquet"))
    # each target run trained and evaluated in one SLURM job: its checkpoint stayed in the node's tmpdir
    assert "evaluate_paws_x" not in out  # no evaluation job of its own
    assert not list((remote / "results" / "target").rglob("checkpoint")), "a target checkpoint reached the workdir"
    assert len(list((remote / "results" / "eval").rglob("*.metrics.json"))) == 3 * 7
