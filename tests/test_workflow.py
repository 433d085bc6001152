"""The Snakemake DAG: the demo end to end, strict zero-shot, params-triggered reruns, lint."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xlt.analysis.matrix import RUN_KEYS
from xlt.data.tasks import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
TARGET_RULES = {"train_target_paws_x", "train_target_tydiqa"}  # a target run and its evaluation, one job each
TRAINING_RULES = {"train_intermediate", "train_multitask", *TARGET_RULES}  # training and model selection (dev) happen here
CALIBRATION_RULES = {"calibrate_point", "calibrate"}  # budget selection on an intermediate task's English dev
SELECTION_RULES = {"select_point", "select"}  # training keys (learning rates) chosen on English dev


def snakemake(workdir, *args, configfile=ROOT / "config" / "demo.yaml", check=True, snakefile=None):
    cmd = [*(SNAKEMAKE if snakefile is None else [sys.executable, "-m", "snakemake", "-s", str(snakefile)]),
           "-d", str(workdir), "--configfile", str(configfile), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    return proc


def dag_jobs(workdir, configfile):
    """Every job of the DAG (rule, input, output), from xlt.workflow.dag without running anything."""
    proc = subprocess.run([sys.executable, "-m", "xlt.workflow.dag", "--configfile", str(configfile), "--directory", str(workdir)],
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
    full = pd.read_parquet(workdir / "results" / "matrix.parquet")
    assert list(full.columns[:len(RUN_KEYS)]) == RUN_KEYS
    assert pd.read_csv(workdir / "results" / "matrix.csv").shape == full.shape
    assert set(full["stage"]) == {"target", "intermediate"}
    m = full[full["stage"] == "target"]
    inters = demo["study"]["intermediate"] + ["multitask"]
    seeds, variants = demo["study"]["seeds"], demo["study"]["variants"]
    assert len(variants) >= 2  # the variant dimension is in the demo
    runs = {(i, v) for i in inters for v in variants} | {("none", "standard")}
    metrics = {"paws_x": ["accuracy"], "tydiqa": ["exact_match", "f1"]}
    expected = sum(len(runs) * len(seeds) * len(langs) * len(metrics[t]) for t, langs in demo["study"]["targets"].items())
    assert len(m) == expected
    for target, langs in demo["study"]["targets"].items():
        sub = m[m["target"] == target]
        assert set(sub["language"]) == set(langs)
        assert set(zip(sub["intermediate"], sub["variant"])) == runs
        assert set(sub["metric"]) == set(metrics[target])
    assert m["value"].between(0, 100).all()
    # intermediate dev metrics, one block per task, and per task of the multi-task run
    inter = full[full["stage"] == "intermediate"]
    assert set(inter["language"]) == {"en"}
    tasks, mix = demo["study"]["intermediate"], demo["study"]["multitask_tasks"]
    assert {"classification", "span_qa", "multiple_choice", "tagging"} == {REGISTRY[t].format for t in mix}
    assert set(zip(inter["intermediate"], inter["target"], inter["variant"])) == \
        {(t, t, v) for t in tasks for v in variants} | {("multitask", t, v) for t in mix for v in variants}
    got = inter.groupby("target")["metric"].agg(set).to_dict()
    assert got["mnli"] == {"accuracy", "mismatched_accuracy"}
    assert got["squad"] == {"exact_match", "f1"} and got["hellaswag"] == {"accuracy"} and got["ccg"] == {"accuracy"}
    assert (m.loc[m["metric"] == "accuracy", "value"] <= 1).all()
    output = proc.stdout + proc.stderr
    assert "Zero-shot results" in output and "freelb" in output  # the demo ends by printing the pivot
    # TyDiQA predictions in the official {id: answer_text} format
    preds = next((workdir / "results" / "eval").rglob("tydiqa/seed*/ar.predictions.json"))
    data = yaml.safe_load(preds.read_text())
    assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
    assert all(k.startswith("tydiqa-test-ar-") for k in data)
    # every row can be traced to what made it: model, data, code per stage, variant blocks
    from xlt.analysis.matrix import PROVENANCE

    assert set(PROVENANCE) <= set(full.columns)
    row = full[(full["stage"] == "target") & (full["intermediate"] == "mnli") & (full["variant"] == "freelb")].iloc[0]
    code = json.loads(row["code"])
    assert set(code) == {"intermediate", "target", "evaluate"} and all(len(v) == 16 for v in code.values())
    assert json.loads(row["variant_blocks"])["intermediate"]["method"] == "freelb"
    assert json.loads(row["variant_blocks"])["intermediate"]["max_norm"] in demo["study"]["calibration"]["grid"]["freelb"]
    # every row says whether its run collapsed on English dev (chance + 2 points)
    assert full["collapsed"].map(type).eq(bool).all() and full["dev_chance"].notna().all()
    assert (full.loc[full["stage"] == "target", "intermediate_collapsed"].map(type) == bool).all()
    data = json.loads(row["dataset_revisions"])
    assert {"mnli/train", "mnli/dev", "paws_x/train", "paws_x/dev", "test"} <= set(data)
    assert row["model_commit"] == "demo"
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
    # the dry run lists the first wave's jobs: the later waves wait behind the interim look (a checkpoint)
    n_targets, n_var = len(cfg["study"]["targets"]), len(cfg["study"]["variants"])
    n_seeds = len((cfg["study"].get("waves") or [cfg["study"]["seeds"]])[0])
    # MNLI's runs (every variant), and — because the budget calibration trains on MNLI with MNLI's
    # hyperparameters — the calibration and every run of the calibrated variant (freelb) on the other tasks
    calibrated = [v for v in cfg["study"]["variants"] if cfg["variants"][v].get("budget") == "calibrated"]
    others = len(cfg["study"]["intermediate"]) - 1 + 1  # the other single tasks and the multi-task mix
    from xlt.workflow import calibration

    n_grid = len(calibration.selection_stage_jobs(cfg)["calibrate_point"])  # every radius x seed (the mnli edit ends
    # MNLI's `learning_rate: selected`, so the calibration no longer waits for the learning-rate selection)
    per_inter = n_var * n_seeds + len(calibrated) * n_seeds * (others - 1)
    assert n_targets == len(TARGET_RULES)
    assert counts == {"calibrate_point": str(n_grid), "calibrate": str(len(calibrated)),
                      "train_intermediate": str(per_inter), "train_multitask": str(len(calibrated) * n_seeds),
                      **dict.fromkeys(TARGET_RULES, str(per_inter + len(calibrated) * n_seeds)),
                      "matrix": "1", "example_scores": "1", "statistics": "1", "figures": "1", "summary": "1",
                      "training_curves": "1", "all": "1", **({"interim": "1"} if cfg["study"].get("waves") else {})}, out
    reasons = snakemake(workdir, "-n", configfile=edited).stdout
    jobs = re.findall(r"rule (train_\w+|calibrate\w*):.*?wildcards: ([^\n]+)", reasons, re.S)
    assert jobs and all("mnli" in wc or any(v in wc for v in calibrated) for _, wc in jobs), jobs
    assert not [wc for _, wc in jobs if "mnli" not in wc and "standard" in wc]  # other tasks' standard runs stay


TRAINING_AND_DOWNSTREAM = {"calibrate_point", "calibrate", "select_point", "select", "train_intermediate", "train_multitask",
                           *TARGET_RULES, "matrix", "example_scores", "statistics", "figures",
                           "summary", "training_curves", "interim", "all"}


@pytest.mark.slow
@pytest.mark.parametrize("edited,expected", [
    ("xlt/adversarial/methods.py", TRAINING_AND_DOWNSTREAM),
    ("xlt/analysis/figures.py", {"figures", "training_curves", "all"}),
    ("README.md", set()),
    ("docs/study.md", set()),
], ids=["adversarial", "figures", "readme", "docs"])
def test_editing_package_code_reruns_exactly_the_jobs_it_can_change(demo_run, tmp_path, edited, expected):
    """A copy of the workflow with one file edited, dry-run on the finished demo. Snakemake's own `code`
    trigger is left out: it sees the copy's new script paths; the package edit reaches the jobs through
    their `code` params (xlt/workflow/fingerprint.py), which is what is tested."""
    workdir, _ = demo_run
    code = tmp_path / "code"
    code.mkdir()
    for name in ("Snakefile", "rules", "workflow_scripts", "xlt", "config", "report", "README.md", "docs"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, code / name)
    with open(code / edited, "a") as fh:
        fh.write("\n# an edit\n")
    out = snakemake(workdir, "-n", "--quiet", "rules", "--rerun-triggers", "mtime", "params", "input", "software-env",
                    snakefile=code / "Snakefile").stdout
    counts = {k for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)} - {"total"}
    assert counts == expected, out
    if not expected:
        assert "Nothing to be done" in out


@pytest.mark.slow
def test_local_gpu_jobs_never_outnumber_the_gpus_and_each_sees_its_own(demo_run, tmp_path):
    """A workstation with 2 (simulated) GPUs, `--cores 4` and no --resources: re-running the first wave's
    PAWS-X target runs, each trained and evaluated in one job (the second wave's wait behind the interim
    look, which --until leaves out) — 7 GPU jobs — never holds more than 2 GPUs at once, every job holds
    one, the two are used at the same time, and jobs that overlap hold different devices
    (CUDA_VISIBLE_DEVICES)."""
    workdir = tmp_path / "demo"
    shutil.copytree(demo_run[0], workdir, symlinks=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XLT_VISIBLE_GPUS": "2", "XLT_GPU_SLOTS": str(tmp_path / "slots")}
    rules = ["train_target_paws_x"]
    wave1 = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["study"]["waves"][0]
    runs = sum(len(list((workdir / "results" / "eval").glob(f"*/*/*/paws_x/seed{s}"))) for s in wave1)
    assert runs == 7  # (2 tasks + the mix) x 2 variants + the baseline
    started = time.time()
    proc = subprocess.run([*SNAKEMAKE, "-d", str(workdir), "--configfile", str(ROOT / "config" / "demo.yaml"),
                           "--cores", "4", "--forcerun", *rules, "--until", *rules],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    spans = []
    for log in (workdir / "results" / "logs").glob("**/*.log"):
        text = log.read_text()
        for (dev_a, start), (dev_r, end) in zip(re.findall(r"gpu-slot acquire device=(\d+) t=([\d.]+)", text),
                                                re.findall(r"gpu-slot release device=(\d+) t=([\d.]+)", text)):
            if float(start) >= started:  # this run's jobs only
                assert dev_a == dev_r
                spans.append((float(start), float(end), dev_a))
    assert len(spans) == runs  # every target run (its training and its evaluation) held a GPU
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, "the two GPUs were never used at the same time"
    assert all(a[2] != b[2] for a, b in overlapping)  # concurrent jobs hold different devices
    for t, _, _ in spans:  # never more than 2 jobs hold a GPU at once
        assert sum(s <= t < e for s, e, _ in spans) <= 2


@pytest.mark.slow
def test_editing_the_calibration_grid_reruns_only_calibration_and_what_depends_on_it(demo_run, tmp_path):
    workdir, _ = demo_run
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["study"]["calibration"]["grid"]["freelb"].append(0.3)
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    out = snakemake(workdir, "-n", "--quiet", "rules", configfile=edited).stdout
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)}
    n_inter = len(cfg["study"]["intermediate"])
    n_seeds = cfg["study"]["calibration"]["seeds"]
    assert counts["calibrate_point"] == n_seeds and counts["calibrate"] == 1  # only the new radius runs
    assert "select_point" not in counts and "select" not in counts
    assert counts["train_intermediate"] == n_inter and counts["train_multitask"] == 1
    assert all(counts[rule] == n_inter + 1 for rule in TARGET_RULES)
    reasons = snakemake(workdir, "-n", configfile=edited).stdout
    jobs = re.findall(r"rule (train_\w+|calibrate\w*):.*?wildcards: ([^\n]+)", reasons, re.S)
    assert jobs and all("freelb" in wc for _, wc in jobs), jobs  # standard runs are untouched
    chosen = json.loads((workdir / "results" / "calibration" / "tiny-bloom" / "freelb.json").read_text())
    # every grid point with the radius-0 control: mean ± SE over the seeds, and the choice
    assert [g["radius"] for g in chosen["grid"]] == [0, 0.03, 0.1] and chosen["chosen"] in (0, 0.03, 0.1)
    assert all(g["n"] == n_seeds and g["se"] is not None and "mean" in g for g in chosen["grid"])
    assert chosen["control"] and chosen["seeds"] == list(range(1, n_seeds + 1)) and chosen["decision"]
    assert chosen["selection_metric"] == "accuracy" and chosen["task"] == "mnli"


@pytest.mark.parametrize("configfile", [ROOT / "config.yaml", ROOT / "config" / "demo.yaml"], ids=["study", "demo"])
def test_strict_zero_shot_no_test_data_reaches_training(configfile, study_workdir):
    """No target `test` split (the only non-English target data) is an ancestor of a training job."""
    jobs = dag_jobs(study_workdir, configfile)
    producers = {out: job["input"] for job in jobs for out in job["output"]}

    def ancestors(paths, seen):
        for path in paths:
            if path not in seen:
                seen.add(path)
                ancestors(producers.get(path, []), seen)
        return seen

    training = [job for job in jobs if job["rule"] in TRAINING_RULES]
    assert len(training) == sum(1 for j in jobs if j["rule"].startswith("train_"))
    assert {j["rule"] for j in training} == TRAINING_RULES
    for job in training:
        # a target job evaluates after it has trained (xlt/steps/target.py): its test split comes in by name,
        # for the evaluation only, and nothing its training reads descends from a test split
        named = dict(job["named_input"])
        evaluation = sorted(named.pop("test_features", []) + named.pop("test_data", []))
        if job["rule"] in TARGET_RULES:
            model, target = job["output"][0].split("/")[2], job["rule"].removeprefix("train_target_")
            assert evaluation == [f"results/data/{target}/test.parquet", f"results/features/{model}/{target}/test.parquet"]
        else:
            assert evaluation == []
        leaked = [p for p in ancestors([f for files in named.values() for f in files], set()) if p.endswith("/test.parquet")]
        assert not leaked, f"{job['rule']} {job['output']} depends on {leaked}"
    # selection (learning rates): English train/dev splits only (test splits are the only non-English data)
    chosen = [job for job in jobs if job["rule"] in SELECTION_RULES]
    assert {j["rule"] for j in chosen} == SELECTION_RULES
    for job in chosen:
        ancestry = ancestors(job["input"], set())
        datasets = [p for p in ancestry if p.startswith(("results/data/", "results/features/"))]
        assert datasets and not [p for p in datasets if p.endswith("/test.parquet")], (job["output"], datasets)
    # calibration reads nothing of the targets at all: only its (English) intermediate task
    calibration = [job for job in jobs if job["rule"] in CALIBRATION_RULES]
    assert {j["rule"] for j in calibration} == CALIBRATION_RULES
    targets = [t for t, task in REGISTRY.items() if task.role == "target"]
    for job in calibration:
        datasets = [p for p in ancestors(job["input"], set()) if p.startswith(("results/data/", "results/features/"))]
        assert datasets and not [p for p in datasets if any(f"/{t}/" in p for t in targets)], (job["output"], datasets)
    # ... while every target job does read its target's test split (features and examples), to evaluate
    evals = [job for job in jobs if job["rule"] in TARGET_RULES]
    assert evals and all(len(job["named_input"]["test_features"] + job["named_input"]["test_data"]) == 2 for job in evals)
    # the jobs that run on the submit host are those the plan leaves out of the cluster jobs
    from xlt.analysis.planning import LOCAL_RULES

    assert {j["rule"] for j in jobs if j["local"]} <= set(LOCAL_RULES) and not {j["rule"] for j in jobs if not j["local"]} & set(LOCAL_RULES)
    assert {"prepare_dataset", "all"} <= {j["rule"] for j in jobs if j["local"]}


def test_study_dry_run_lists_the_full_matrix(study_workdir, tmp_path):
    """The study's dry run under the SLURM profile, as a cluster user starts it: bloom-560m's full design (no
    waves: every seed) and bloom-1b7's reduced one (its own tasks and variants; the first of its waves — the
    others join after its interim look). Each target run is one cluster job that also evaluates every
    language of its target and leaves no checkpoint; the unpinned repositories are named."""
    from xlt.data import pins

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    subprocess.run([sys.executable, "-m", "xlt.workflow.slurm_profile", "install"], env=env, check=True, capture_output=True)
    proc = subprocess.run([*SNAKEMAKE, "-d", str(study_workdir), "--configfile", str(ROOT / "config.yaml"), "--profile",
                           "slurm", "-n"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)}
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    # every repository read at a branch's head is named once, at DAG time
    warning = pins.unpinned_warning(config)
    assert warning and proc.stderr.count(warning) == 1 and len(pins.unpinned(config)) == 7
    # every job (a dry run does not mark the submit host's: tests/test_workflow.py's DAG audit checks those)
    blocks = [b for b in re.split(r"\n(?=(?:local)?rule \w+:\n)", out) if re.match(r"(?:local)?rule \w+:\n", b)]
    assert len(blocks) == sum(n for rule, n in counts.items() if rule not in ("total", "all"))
    # each target run: one cluster job whose outputs are its dev metrics and every language's evaluation
    targets = [b for b in blocks if b.startswith("rule train_target_")]
    assert len(targets) == counts["train_target_paws_x"] + counts["train_target_tydiqa"] and not re.search(r"rule evaluate", out)
    for block in targets:
        target = block.split(":")[0].removeprefix("rule train_target_")
        outputs = re.search(r"^    output: (.*)$", block, flags=re.M).group(1).split(", ")
        run = outputs[0].removeprefix("results/target/").removesuffix("/dev_metrics.json")
        assert run.split("/")[3] == target and not [o for o in outputs if "checkpoint" in o]
        assert sorted(outputs) == sorted([f"results/target/{run}/dev_metrics.json", f"results/target/{run}/train_log.jsonl",
                                          *(f"results/eval/{run}/{lang}.{kind}.json" for lang in config["study"]["targets"][target]
                                            for kind in ("predictions", "metrics"))])
    from xlt.workflow import calibration, designs

    full, reduced = (designs.view(config, m)["study"] for m in ("bloom-560m", "bloom-1b7"))
    n_inter, n_seeds, n_var = len(full["intermediate"]), len(full["seeds"]), len(full["variants"])
    assert n_var == 6 and "waves" not in full and full["multitask"]
    r_inter, r_var, r_seeds = len(reduced["intermediate"]), len(reduced["variants"]), len(reduced["waves"][0])
    assert not reduced["multitask"] and r_var == 2 and r_seeds == 8
    # 560m: 9 tasks x 6 variants x 14 seeds; the mix x variants x seeds; ((9 tasks + multitask) x variants
    # + none) x 2 targets x 14 seeds. 1b7: 4 tasks x 2 variants x its first wave's 8 seeds; (4 x 2 + none)
    # x 2 targets x 8. One evaluation job per target run.
    assert counts["train_intermediate"] == n_inter * n_var * n_seeds + r_inter * r_var * r_seeds == 756 + 64
    assert counts["train_multitask"] == n_var * n_seeds
    # one job per target run: trained and evaluated on every language together
    assert counts["train_target_paws_x"] + counts["train_target_tydiqa"] == \
        ((n_inter + 1) * n_var + 1) * 2 * n_seeds + (r_inter * r_var + 1) * 2 * r_seeds == 1708 + 144
    assert counts["train_target_paws_x"] == counts["train_target_tydiqa"] and not [r for r in counts if "evaluate" in r]
    assert counts["snapshot_model"] == 2 and counts["matrix"] == 1 and counts["interim"] == 1  # 1b7's first look
    # budget calibration per model: each of its adversarial variants on MNLI, its grid (with the radius-0
    # control) x 3 seeds; learning rates: MNLI and each target, 3 values x 3 seeds — as xlt.workflow.calibration counts them
    jobs = {rule: len(runs) for rule, runs in calibration.selection_stage_jobs(config).items()}
    assert counts["calibrate"] == (n_var - 1) + (r_var - 1) and counts["calibrate_point"] == 5 * 3 * (n_var - 1 + r_var - 1)
    assert counts["select"] == 2 * 3 and counts["select_point"] == 2 * 3 * 3 * 3
    assert {rule: counts[rule] for rule in jobs} == jobs
    # data: 9 intermediate tasks x (train, dev) + MNLI mismatched + 2 targets x (train, dev, test); each model
    # featurises its own tasks' (1b7: 4 tasks x 2 + MNLI mismatched + the targets')
    assert counts["prepare_dataset"] == 9 * 2 + 1 + 2 * 3
    assert counts["featurize"] == (9 * 2 + 1 + 2 * 3) + (4 * 2 + 1 + 2 * 3)
    print("\nstudy jobs per rule:", {k: v for k, v in counts.items() if k != "total"}, "total", counts["total"])


def test_download_target_fetches_every_dataset_and_model_and_nothing_else(study_workdir):
    """`snakemake --cores 1 download` on a login node: all normalised splits and the model snapshot."""
    out = snakemake(study_workdir, "-n", "--quiet", "rules", "--", "download", configfile=ROOT / "config.yaml").stdout
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)}
    assert set(counts) == {"prepare_dataset", "snapshot_model", "download", "total"}
    assert counts["prepare_dataset"] == 9 * 2 + 1 + 2 * 3 and counts["snapshot_model"] == 2  # bloom-560m, bloom-1b7


def test_lint_is_clean(study_workdir):
    for cfg in (ROOT / "config.yaml", ROOT / "config" / "demo.yaml"):
        out = snakemake(study_workdir, "--lint", configfile=cfg)
        assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_bad_config_stops_the_dag_with_the_key_named(tmp_path):
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["study"]["intermediate"] = ["mnli", "imdb"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert proc.returncode != 0
    assert "study.intermediate[1]: 'imdb' is not allowed; allowed values: anli_plus" in proc.stdout + proc.stderr


def test_adversarial_target_switch_is_visible_in_paths(tmp_path):
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["study"]["adversarial_target"] = True
    path = tmp_path / "adv.yaml"
    path.write_text(yaml.safe_dump(cfg))
    jobs = dag_jobs(tmp_path, path)
    targets = [j for j in jobs if j["rule"] in TARGET_RULES]
    dirs = {p.split("/seed")[0] for j in targets for p in j["output"]}
    assert "results/target/tiny-bloom/squad/freelb+target/paws_x" in dirs
    assert "results/target/tiny-bloom/none/freelb+target/tydiqa" in dirs  # adversarial target-only baseline
    assert "results/target/tiny-bloom/squad/standard/paws_x" in dirs
    assert not any("/freelb/" in d for d in dirs)
    # the +target run starts from the intermediate checkpoint trained with the same variant
    run = next(j for j in targets if "squad/freelb+target/paws_x" in j["output"][0])
    assert "results/intermediate/tiny-bloom/squad/freelb/seed1/checkpoint" in run["input"]


@pytest.mark.slow
def test_demo_ends_with_report_figures_and_html(demo_run, tmp_path):
    workdir, _ = demo_run
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    rep = workdir / "results" / "report"
    summary = (rep / "summary.md").read_text()
    assert "Demo run." in summary and "meaningless" in summary
    assert "## Answer (confirmatory)" in summary and "## Exploratory (not pre-registered)" in summary
    groups = list(demo["report"]["language_groups"]["bloom"]["groups"])
    # one answer line per question before any table, then the declaration check and both families
    opening = summary.split("## Answer (confirmatory)")[0]
    assert "- **Does adversarial intermediate training change transfer vs standard?** **" in opening
    assert "- **Does an English intermediate task change transfer vs none?** **" in opening and "|" not in opening
    assert "Declared before results (hash `" in summary and "Pre-registered in" not in summary
    assert "| target | endpoint | variant | Δ (points) | 95% CI | p | Holm p | verdict | MDE (points) |" in summary
    assert "could not reliably have been seen" in summary and "Collapsed runs" in summary
    # every calibration grid point (radius 0, the control, included) and what was chosen on English dev
    chosen = summary.split("## Chosen on English dev")[1].split("## Exploratory")[0]
    assert "| freelb | 0 |" in chosen and "| freelb | 0.1 |" in chosen and "control" in chosen
    assert "learning_rate" in chosen
    prereg = json.loads((workdir / "results" / "preregistration.json").read_text())
    assert prereg["declaration"]["report"]["equivalence_margin"] == demo["report"]["equivalence_margin"]
    for target, langs in demo["study"]["targets"].items():
        # the confirmatory answer for both families, each test with its MDE
        assert f"| {target} | avg-xx | freelb |" in summary  # both targets in one family table
        header = "| model | intermediate | variant | " + " | ".join(
            ["en", *[lg for lg in langs if lg != "en"], "avg-xx", *[f"avg:{g}" for g in groups]]) + " |"
        assert header in summary
        for inter in demo["study"]["intermediate"] + ["multitask"]:
            for variant in demo["study"]["variants"]:
                assert f"| tiny-bloom | {inter} | {variant} |" in summary
        assert "| tiny-bloom | none | standard |" in summary
        for fig in (f"heatmap_{target}.png", f"languages_{target}.png"):
            assert (rep / "figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (rep / "figures" / "gap.png").stat().st_size > 1000
    assert (rep / "figures" / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    comps = pd.read_csv(rep / "comparisons.csv", keep_default_na=False, na_values=[""])
    assert {"system", "vs_baseline", "vs_standard", "pooled_vs_standard"} <= set(comps["kind"])
    assert set(comps.loc[comps["family"] != "exploratory", "verdict"]) <= {"improves", "harms", "equivalent",
                                                                           "inconclusive"}
    assert comps.loc[comps["family"] == "exploratory", "verdict"].isna().all()
    assert comps.loc[comps["kind"] != "system", "p"].between(0, 1).all()
    confirmatory = comps[comps["family"] != "exploratory"]
    assert set(confirmatory["family"]) == {"adversarial_vs_standard", "task_vs_baseline"}
    assert confirmatory["p_adj"].between(0, 1).all() and (confirmatory["language"] == "avg-xx").all()
    assert comps.loc[comps["family"] == "exploratory", "p_adj"].isna().all()
    html = tmp_path / "report.html"
    snakemake(workdir, "--report", str(html))
    assert html.stat().st_size > 10_000


@pytest.mark.slow
def test_waves_the_second_wave_runs_while_a_family_is_open(demo_run):
    """The demo declares waves [[1], [2]]: the look after wave 1 (one seed: item variance only) leaves the
    families open at O'Brien-Fleming's first level, so wave 2 is trained and the final analysis at the
    second look's level uses both seeds; summary.md states what each look decided."""
    workdir, _ = demo_run
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    assert demo["study"]["waves"] == [[1], [2]]
    look = json.loads((workdir / "results" / "interim" / "tiny-bloom" / "wave1.json").read_text())
    assert look["wave"] == 1 and look["seeds"] == 1 and look["max_seeds"] == 2 and look["continue"]
    assert look["level"] == pytest.approx(0.00557, abs=1e-4) and look["levels"][1] == pytest.approx(0.0478, abs=1e-3)
    assert {f["family"] for f in look["families"]} == {"adversarial_vs_standard", "task_vs_baseline"}
    assert not all(f["decided"] for f in look["families"])
    matrix = pd.read_parquet(workdir / "results" / "matrix.parquet")
    assert set(matrix.loc[matrix["stage"] == "target", "seed"]) == {1, 2}
    assert set(matrix.loc[matrix["stage"] == "intermediate", "seed"]) == {1, 2}
    comps = pd.read_csv(workdir / "results" / "report" / "comparisons.csv")
    conf = comps[comps["family"] != "exploratory"]
    assert (conf["look"] == 2).all() and conf["level"].eq(look["levels"][1]).all() and (conf["seeds"] == 2).all()
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    assert "## Seeds in waves (group-sequential)" in summary and "The study ended at look 2 of 2." in summary
    assert "- look 1 (1 of 2 seeds, level 0.005575), adversarial vs standard (tiny-bloom): " in summary


@pytest.mark.slow
def test_waves_the_second_wave_is_skipped_when_the_first_decides(demo_run, tmp_path):
    """The finished demo without its wave-2 runs, re-run with a margin so wide that every test is
    `equivalent` at the first look: the look decides both families, no wave-2 job is made, and the
    final analysis is the first look's (one seed), stated in summary.md."""
    workdir = tmp_path / "demo"
    shutil.copytree(demo_run[0], workdir, symlinks=True)
    for stage in ("intermediate", "target", "eval"):
        for run in list((workdir / "results" / stage).rglob("seed2")):
            shutil.rmtree(run)
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["report"]["equivalence_margin"] = 1000.0
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir, "--cores", "2", configfile=edited)
    ran = set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", proc.stdout + proc.stderr, flags=re.M))
    assert "interim" in ran and not ran & {"train_intermediate", "train_multitask", *TARGET_RULES}, ran
    assert not [p for stage in ("intermediate", "target", "eval") for p in (workdir / "results" / stage).rglob("seed2")]
    look = json.loads((workdir / "results" / "interim" / "tiny-bloom" / "wave1.json").read_text())
    assert all(f["decided"] for f in look["families"]) and not look["continue"]
    assert {t["verdict"] for f in look["families"] for t in f["tests"]} == {"equivalent"}
    assert set(pd.read_parquet(workdir / "results" / "matrix.parquet")["seed"]) == {1}
    comps = pd.read_csv(workdir / "results" / "report" / "comparisons.csv")
    conf = comps[comps["family"] != "exploratory"]
    assert (conf["look"] == 1).all() and (conf["verdict"] == "equivalent").all()
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    assert "The study ended at look 1 of 2 (every family decided: later waves were not trained)." in summary
    assert "Nothing to be done" in snakemake(workdir, "-n", configfile=edited).stdout


@pytest.mark.slow
def test_amending_the_margin_after_results_is_listed_in_the_summary(demo_run, tmp_path):
    """results/preregistration.json keeps the declaration made before the first evaluation: editing
    report.equivalence_margin afterwards re-runs only the statistics and what reads them, and summary.md
    lists the amended key; deleting the file re-declares without re-running any evaluation."""
    workdir = tmp_path / "demo"
    shutil.copytree(demo_run[0], workdir, symlinks=True)
    declared = (workdir / "results" / "preregistration.json").read_text()
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["report"]["equivalence_margin"] = 0.5
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    out = snakemake(workdir, "-n", "--quiet", "rules", configfile=edited).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    # with study.waves the interim look re-decides at the new margin, and the jobs that read a look (their
    # inputs wait behind that checkpoint) run again: the matrix, scores and curves — no training, no evaluation
    behind = {"interim", "matrix", "example_scores", "training_curves"} if len(cfg["study"].get("waves") or []) > 1 else set()
    assert set(counts) - {"total"} == {"statistics", "figures", "summary", "all"} | behind, out
    snakemake(workdir, "--cores", "2", configfile=edited)
    assert (workdir / "results" / "preregistration.json").read_text() == declared  # never rewritten
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    assert "**Amended after the declaration**" in summary
    assert "`report.equivalence_margin`: declared 1.0, now 0.5" in summary
    # re-declare: only the summary re-runs (the declaration it reads changes); the next run writes the file
    (workdir / "results" / "preregistration.json").unlink()
    out = snakemake(workdir, "-n", "--quiet", "rules", configfile=edited).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert set(counts) - {"total"} == {"summary", "all"}, out
    snakemake(workdir, "--cores", "2", configfile=edited)
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    assert "**Re-declared after results existed**" in summary and "Amended after the declaration" not in summary


def test_profile_resolves_by_name_after_setup(study_workdir, tmp_path):
    """`snakemake --profile slurm` as users type it: the set-up links the profile into the user's Snakemake
    config directory (here a temporary XDG_CONFIG_HOME), and a dry run then uses it (the demo's: the study's
    DAG takes half a minute to build and adds nothing to what is checked here)."""
    from xlt.workflow.slurm_profile import install

    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    subprocess.run([sys.executable, "-m", "xlt.workflow.slurm_profile", "install"], env=env, check=True, capture_output=True)
    link = tmp_path / "xdg" / "snakemake" / "slurm"
    assert link.is_symlink() and link.resolve() == (ROOT / "profiles" / "slurm").resolve()
    install("slurm", link.parent)  # idempotent
    proc = subprocess.run([*SNAKEMAKE, "--profile", "slurm", "--configfile", str(ROOT / "config" / "demo.yaml"), "-n",
                           "--quiet", "rules"], cwd=study_workdir, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "train_intermediate" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    # a different profile of the same name is never replaced
    other = tmp_path / "other"
    (other / "slurm").mkdir(parents=True)
    install("slurm", other)
    assert not (other / "slurm").is_symlink()


@pytest.mark.slow
def test_a_second_model_with_its_own_design_runs_beside_the_first(demo_run, tmp_path):
    """study.models as a mapping: the finished demo plus a second tiny Bloom with a reduced design of its
    own (one task, standard only, two seeds, no waves) and LoRA training. Only the new model's jobs and the
    report run; its runs are exactly its design; the first model's statistics are what they were (each
    model's families are apart); the plan counts the jobs the run made."""
    workdir = tmp_path / "demo"
    shutil.copytree(demo_run[0], workdir, symlinks=True)
    before = pd.read_csv(workdir / "results" / "report" / "comparisons.csv")
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["models"]["tiny-bloom-lora"] = {"demo": {**cfg["models"]["tiny-bloom"]["demo"], "seed": 1}, "family": "bloom"}
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["query_key_value"]}
    cfg["study"]["models"] = {"tiny-bloom": None, "tiny-bloom-lora": {
        "intermediate": ["squad"], "multitask": False, "variants": ["standard"], "seeds": [1, 2],
        "training": {"defaults": {"lora": lora}}}}
    edited = tmp_path / "two-models.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir, "--cores", "2", configfile=edited)
    blocks = re.split(r"^(?=(?:local)?(?:rule|checkpoint) \w+:$)", proc.stdout + proc.stderr, flags=re.M)
    jobs = [(m.group(1), (re.search(r"^\s+wildcards: ([^\n]+)", b, flags=re.M) or re.match("()", "")).group(1))
            for b in blocks if (m := re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", b))]
    trained = [wc for rule, wc in jobs if rule in TRAINING_RULES | SELECTION_RULES | CALIBRATION_RULES]
    assert trained and all("model=tiny-bloom-lora" in wc for wc in trained), trained
    from xlt.analysis import planning

    new = {r: n for r, n in planning.job_counts(cfg).items()}
    ran = {}
    for rule, _ in jobs:
        ran[rule] = ran.get(rule, 0) + 1
    for rule in ("train_intermediate", *TARGET_RULES, "select_point"):
        assert ran.get(rule) == new[rule] - planning.job_counts(yaml.safe_load((ROOT / "config" / "demo.yaml")
                                                                             .read_text())).get(rule, 0), rule
    inter = workdir / "results" / "intermediate" / "tiny-bloom-lora"
    assert sorted(p.relative_to(inter).as_posix() for p in inter.glob("*/*/seed*")) == \
        ["squad/standard/seed1", "squad/standard/seed2"]
    assert (inter / "squad" / "standard" / "seed1" / "checkpoint" / "adapter_config.json").exists()  # its LoRA
    assert not (workdir / "results" / "intermediate" / "tiny-bloom" / "squad" / "standard" / "seed1" / "checkpoint"
                / "adapter_config.json").exists()
    after = pd.read_csv(workdir / "results" / "report" / "comparisons.csv")
    old = after[after["model"] == "tiny-bloom"].reset_index(drop=True)
    pd.testing.assert_frame_equal(old[before.columns], before, check_dtype=False)
    mine = after[(after["model"] == "tiny-bloom-lora") & (after["family"] != "exploratory")]
    assert set(mine["family"]) == {"task_vs_baseline"} and set(mine["intermediate"]) == {"squad"}
    assert mine["p_adj"].notna().all()
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    assert "tiny-bloom-lora" in summary and "## Seeds in waves (group-sequential): tiny-bloom" in summary
    for model in ("tiny-bloom", "tiny-bloom-lora"):  # each model's own figures
        assert {p.name for p in (workdir / "results" / "report" / "figures" / model).glob("*.png")} == \
            {"heatmap_paws_x.png", "heatmap_tydiqa.png", "languages_paws_x.png", "languages_tydiqa.png", "gap.png"}
    assert "Nothing to be done" in snakemake(workdir, "-n", configfile=edited).stdout


def _status(workdir, configfile=ROOT / "config" / "demo.yaml"):
    proc = subprocess.run([sys.executable, "-m", "xlt.analysis.status", "--configfile", str(configfile), "--directory",
                           str(workdir)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _status_rows(out):
    """{(stage, model, rule): (done, running, failed, waiting, not needed, of)} of the status job table."""
    rows = re.findall(r"^(\w+)\s+(\S+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", out, flags=re.M)
    return {(s, m, r): tuple(map(int, n)) for s, m, r, *n in rows}


@pytest.mark.slow
def test_status_of_the_finished_demo_reads_results_alone(demo_run):
    """python -m xlt.analysis.status: every job of the demo done, the GPU jobs' wall time from their benchmark
    files against the plan, the interim look and its decision, nothing left."""
    from xlt.analysis import planning

    workdir, _ = demo_run
    out = _status(workdir)
    rows = _status_rows(out)
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    planned = planning.job_counts(demo)  # the maximum design: the demo's look opened wave 2
    for rule in ("select_point", "calibrate_point", "train_intermediate", "train_multitask", *TARGET_RULES, "interim"):
        (done, running, failed, waiting, skipped, of), = [v for (_, _, r), v in rows.items() if r == rule]
        assert done == of == planned[rule] and running == failed == waiting == skipped == 0, rule
    gpu = ("select_point", "calibrate_point", "train_intermediate", "train_multitask", "train_target")
    spent = sum(float(pd.read_csv(p, sep="\t")["s"].iloc[0]) for rule in gpu
                for p in (workdir / "results" / "benchmarks" / rule).rglob("*.tsv")) / 3600
    total = re.search(r"^\s+total\s+(\d+)/(\d+)\s+(\S+)", out, flags=re.M)
    assert total.group(1) == total.group(2) == str(sum(planned[r] for r in planned if r in (
        "select_point", "calibrate_point", "train_intermediate", "train_multitask", *TARGET_RULES)))
    assert float(total.group(3)) == pytest.approx(spent, rel=0.01)
    assert ("tiny-bloom, look 1 of 1 (after wave 1: 1 of 2 seeds, level 0.005575): adversarial_vs_standard open, "
            "task_vs_baseline open") in out and "-> wave 2 runs" in out
    assert "Left: nothing: the study is complete" in out


@pytest.mark.slow
def test_status_of_a_half_finished_demo_counts_what_is_done_running_failed_and_left(demo_run, tmp_path):
    """The finished demo with its second wave not finished: one target run failed (its log ends in a
    traceback), one running (a log, no outputs), the rest of wave 2 and the report not started. Then the
    same with a look that decided: wave 2 is not needed and nothing of it is left."""
    from xlt.analysis import planning
    from xlt.workflow import jobs as design

    workdir = tmp_path / "demo"
    shutil.copytree(demo_run[0], workdir, symlinks=True)
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    every = design.training_jobs(demo) + design.other_jobs(demo)
    wave2 = [j for j in every if j["wave"] == 2]
    unfinished = wave2 + [j for j in every if j["stage"] == "report" and j["rule"] != "interim"]
    for job in unfinished:  # as if they had not run: no outputs, no log, no benchmark
        for path in [*job["outputs"], job["log"], job["benchmark"]]:
            target = workdir / path
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    paws = [j for j in wave2 if j["rule"] == "train_target" and j["target"] == "paws_x"]
    failed, running = paws[0], paws[1]
    (workdir / failed["log"]).parent.mkdir(parents=True, exist_ok=True)
    (workdir / failed["log"]).write_text("train: 40%|####\nTraceback (most recent call last):\n  File \"loop.py\"\n"
                                         "xlt.train.loop.Preempted: SIGTERM at step 3: state saved; re-run to resume\n")
    (workdir / running["log"]).parent.mkdir(parents=True, exist_ok=True)
    (workdir / running["log"]).write_text("train:  10%|#\n")
    out = _status(workdir)
    rows = _status_rows(out)
    wave1 = {rule: sum(j["rule"] == rule and j["wave"] <= 1 for j in every) for rule in ("train_intermediate", "train_target")}
    n2 = {rule: sum(j["rule"] == rule for j in wave2) for rule in ("train_intermediate", "train_multitask")}
    assert rows[("target", "tiny-bloom", "train_target_paws_x")] == (wave1["train_target"] // 2, 1, 1, 5, 0, 14)
    assert rows[("target", "tiny-bloom", "train_target_tydiqa")] == (7, 0, 0, 7, 0, 14)
    assert rows[("intermediate", "tiny-bloom", "train_intermediate")] == (wave1["train_intermediate"], 0, 0,
                                                                         n2["train_intermediate"], 0, 8)
    assert rows[("report", "-", "matrix")] == (0, 0, 0, 1, 0, 1) and rows[("report", "tiny-bloom", "interim")][0] == 1
    assert f"train_target_paws_x {failed['run']}: xlt.train.loop.Preempted: SIGTERM at step 3" in out
    assert re.search(rf"train_target_paws_x {re.escape(running['run'])}: log written \d+ min ago", out)
    # GPU-hours: what the finished jobs spent, the plan of the rest
    priced = {(j["stage"], j["run"]): j["minutes"] / 60 for j in planning.training_jobs(demo, workdir)}
    left = sum(priced[(j["stage"], j["run"])] for j in wave2 if j["rule"] in design.GPU_RULES)
    done = [j for j in every if j["rule"] in design.GPU_RULES and j not in wave2]
    total = re.search(r"^\s+total\s+(\d+)/(\d+)\s+\S+\s+\S+\s+\S+\s+(\S+)", out, flags=re.M)
    assert (int(total.group(1)), int(total.group(2))) == (len(done), len(done) + len([j for j in wave2 if j["rule"] in design.GPU_RULES]))
    assert float(total.group(3)) == pytest.approx(left, rel=0.01)
    assert re.search(r"^Left: 6 intermediate, 14 target, 6 report jobs; \S+ GPU-hours as planned", out, flags=re.M), out
    # a look that decided every family: wave 2 is not needed, nothing of it is left
    look = workdir / "results" / "interim" / "tiny-bloom" / "wave1.json"
    decided = json.loads(look.read_text())
    decided["continue"] = False
    for family in decided["families"]:
        family["decided"] = True
    look.write_text(json.dumps(decided))
    rows = _status_rows(out := _status(workdir))
    assert rows[("target", "tiny-bloom", "train_target_paws_x")] == (7, 0, 0, 0, 7, 14)
    assert rows[("intermediate", "tiny-bloom", "train_multitask")] == (2, 0, 0, 0, 2, 4)
    assert "-> stop: waves 2-2 are not trained" in out
    assert re.search(r"^Left: 6 report jobs", out, flags=re.M), out
