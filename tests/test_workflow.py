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
from workflow_runs import SNAKEMAKE, dag_jobs, snakemake

ROOT = Path(__file__).resolve().parents[1]
TARGET_RULES = {"train_target_paws_x", "train_target_tydiqa"}  # a target run and its evaluation, one job each
TRAINING_RULES = {"train_intermediate", "train_multitask", *TARGET_RULES}  # training and model selection (dev) happen here
CALIBRATION_RULES = {"calibrate_point", "calibrate"}  # budget selection on an intermediate task's English dev
SELECTION_RULES = {"select_point", "select"}  # training keys (learning rates) chosen on English dev


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
    # calibration trains FreeLB at a non-zero radius, so its arm is not a copy of standard training
    cal = json.loads((workdir / "results" / "calibration" / "tiny-bloom" / "freelb.json").read_text())
    assert cal["chosen"] > 0 and cal["rule"] == "best_nonzero" and cal["seeds"] == [101, 102]
    pivot = m.pivot_table(index=["intermediate", "target", "seed", "language", "metric"], columns="variant", values="value")
    assert (pivot.dropna()["freelb"] != pivot.dropna()["standard"]).any()
    # English-dev choices on seeds of their own; PAWS-X's learning rate from the pretrained model and MNLI's
    sel = json.loads((workdir / "results" / "selection" / "tiny-bloom" / "target" / "paws_x.json").read_text())
    assert sel["seeds"] == [101] and sel["init"] == "pooled: pretrained model, mnli (standard)"
    assert {k for g in sel["grid"] for k in g["scores"]} == {"none/101", "mnli/101"}
    # heterogeneity beside every pooled adversarial verdict, in comparisons.csv and summary.md
    comps = pd.read_csv(workdir / "results" / "report" / "comparisons.csv")
    pooled = comps[(comps["family"] == "adversarial_vs_standard")]
    assert len(pooled) and pooled["het_p"].between(0, 1).all() and (pooled["het_df"] == 2).all()  # mnli, squad, mix
    assert "not tested" not in set(comps["verdict"].dropna())
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    assert "tasks differ? |" in summary and "Q " in summary
    # every intermediate run leaves a safetensors checkpoint and dev metrics
    for ckpt in (workdir / "results" / "intermediate").rglob("checkpoint"):
        assert (ckpt / "model.safetensors").exists()
        assert (ckpt.parent / "dev_metrics.json").exists()


@pytest.mark.slow
def test_the_readme_shows_the_demos_pivot_and_report_command(demo_run):
    """The README's example pivot is the PAWS-X part of what this demo run prints (in points); when the demo
    changes, `python -m xlt.analysis.matrix --target paws_x` after `make demo` prints the new block. The
    report command it gives for the demo is the one the demo prints when run from the checkout."""
    from xlt.analysis.matrix import format_pivot
    from xlt.analysis.pages import report_command

    workdir, proc = demo_run
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```\n(== paws_x ==\n.*?)\n```", readme, flags=re.S).group(1)
    printed = format_pivot(str(workdir / "results" / "matrix.parquet"), ["paws_x"])
    assert block == printed, ("README's example pivot is stale: after `make demo`, paste the output of "
                              "`.venv/bin/python -m xlt.analysis.matrix --target paws_x`:\n" + printed)
    assert printed in proc.stdout + proc.stderr  # what the demo's closing message printed
    command = report_command(ROOT / "Snakefile", [ROOT / "config" / "demo.yaml"], ROOT, str(ROOT))
    assert command == "snakemake --report results/report/report.html --configfile config/demo.yaml"
    assert command in readme.replace("\n  ", " ")


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
    # ... and PAWS-X's learning rate, chosen from a pooled set of starts that holds MNLI's standard checkpoint
    # (trained at the selection seed): that checkpoint, its selection runs, and then every PAWS-X target run
    from xlt.workflow import selection

    from_mnli = [r for r in selection.point_runs(cfg) if r["start"] == "mnli"]
    paws_runs = ((others + 1) * n_var + 1) * n_seeds  # every arm (and none) of the first wave
    assert counts == {"calibrate_point": str(n_grid), "calibrate": str(len(calibrated)),
                      "train_intermediate": str(per_inter + len(selection.start_runs(cfg))),
                      "select_point": str(len(from_mnli)), "select": "1",
                      "train_multitask": str(len(calibrated) * n_seeds),
                      "train_target_paws_x": str(paws_runs),
                      "train_target_tydiqa": str(per_inter + len(calibrated) * n_seeds),
                      "matrix": "1", "example_scores": "1", "statistics": "1", "figures": "1", "summary": "1",
                      "report_pages": "1", "training_curves": "1", "all": "1", **({"interim": "1"} if cfg["study"].get("waves") else {})}, out
    reasons = snakemake(workdir, "-n", configfile=edited).stdout
    jobs = re.findall(r"rule (train_\w+|calibrate\w*):.*?wildcards: ([^\n]+)", reasons, re.S)
    jobs = [(r, wc) for r, wc in jobs if r != "train_target_paws_x"]  # PAWS-X: every run, above
    assert jobs and all("mnli" in wc or any(v in wc for v in calibrated) for _, wc in jobs), jobs
    assert not [wc for _, wc in jobs if "mnli" not in wc and "standard" in wc]  # other tasks' standard runs stay


TRAINING_AND_DOWNSTREAM = {"calibrate_point", "calibrate", "select_point", "select", "train_intermediate", "train_multitask",
                           *TARGET_RULES, "matrix", "example_scores", "statistics", "figures",
                           "summary", "report_pages", "training_curves", "interim", "all"}


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
    # every grid point with the radius-0 control: mean ± SE over the seeds, and the choice (never radius 0)
    assert [g["radius"] for g in chosen["grid"]] == [0, 0.03, 0.1] and chosen["chosen"] in (0.03, 0.1)
    assert all(g["n"] == n_seeds and g["se"] is not None and "mean" in g for g in chosen["grid"])
    assert chosen["control"] and chosen["seeds"] == list(range(101, 101 + n_seeds)) and chosen["decision"]
    assert chosen["selection_metric"] == "accuracy" and chosen["task"] == "mnli"


@pytest.mark.slow
def test_forced_no_effective_radius_is_never_called_equivalent(demo_run, tmp_path):
    """Calibration that finds no English-dev effect (forced scores) still trains a non-zero radius by the
    declared rule; an arm that did train at radius 0 (a record of an older rule, or a fixed block at 0) is a
    copy of standard training: the statistics call its contrasts `not tested` with the reason, leave them
    out of Holm, and the summary's answer says so — never `equivalent`."""
    from xlt.steps.report import statistics, summary
    from xlt.workflow import calibration

    workdir, _ = demo_run
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    block, cal = demo["variants"]["freelb"], calibration.variant_settings(demo, "freelb")
    flat = {0.0: {101: 60.0, 102: 61.0}, 0.03: {101: 59.0, 102: 60.0}, 0.1: {101: 58.0, 102: 59.5}}
    rec = calibration.result("freelb", block, cal, "accuracy", flat)
    assert rec["chosen"] == 0.03 and rec["effective"] is False and rec["chosen_block"]["max_norm"] == 0.03
    # an arm at radius 0, with the demo's own scores: the copy the old rule made
    old = {**rec, "chosen": 0.0, "decision": "no effective radius (an older rule)"}
    cal_dir = tmp_path / "calibration" / "tiny-bloom"
    cal_dir.mkdir(parents=True)
    (cal_dir / "freelb.json").write_text(json.dumps(old))
    report = workdir / "results" / "report"
    out = {k: str(tmp_path / f"{k}.csv") for k in ("aggregate", "comparisons", "run_variance", "sensitivity")}
    from xlt.workflow.config import language_groups, report_config

    statistics(str(report / "example_scores.parquet"), str(workdir / "results" / "matrix.parquet"),
               {"replicates": 200, "seed": 0}, out["aggregate"], out["comparisons"], report_config(demo),
               language_groups(demo), out["run_variance"], out["sensitivity"],
               variants={"tiny-bloom": {v: demo["variants"][v] for v in ("standard", "freelb")}},
               calibration=[str(cal_dir / "freelb.json")])
    comps = pd.read_csv(out["comparisons"])
    freelb = comps[(comps["variant"] == "freelb") & comps["kind"].isin(["vs_standard", "pooled_vs_standard"])]
    assert (freelb["verdict"].fillna("").isin(["not tested", ""])).all() and "equivalent" not in set(freelb["verdict"])
    assert (freelb.loc[freelb["family"] != "exploratory", "verdict"] == "not tested").all()
    assert freelb["not_tested"].str.contains("calibration chose radius 0").all()
    md = tmp_path / "summary.md"
    summary(out["aggregate"], out["comparisons"], demo["study"]["targets"], 200, True, str(md), report_config(demo))
    answer = next(line for line in md.read_text().splitlines() if "adversarial intermediate training" in line)
    assert "**not tested**" in answer and "calibration chose radius 0" in answer and "equivalent" not in answer


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
    # English-dev choices never share a seed (data order, head initialisation) with a confirmatory run
    study_seeds = {s for m in designs_of(configfile) for s in m}
    for job in [j for j in jobs if j["rule"] in SELECTION_RULES | CALIBRATION_RULES]:
        ancestry = ancestors(job["input"], set()) | set(job["output"])
        runs = {int(x) for p in ancestry if p.startswith(("results/selection/", "results/calibration/", "results/intermediate/"))
                for x in re.findall(r"/seed(\d+)/", p)}
        assert runs and not runs & study_seeds, (job["rule"], job["output"], sorted(runs & study_seeds))
    # `auto` span-QA lengths (both configs): measured on each span-QA task's English train split and nothing else
    # (the step itself refuses non-English rows: tests/test_lengths.py), and they reach training through features
    measured = [job for job in jobs if job["rule"] == "measure_lengths"]
    span_tasks = {t for t, task in REGISTRY.items() if task.format == "span_qa"}
    assert measured and {j["output"][0].rsplit("/", 1)[1][:-len(".json")] for j in measured} <= span_tasks
    for job in measured:
        task = job["output"][0].rsplit("/", 1)[1][:-len(".json")]
        datasets = [p for p in ancestors(job["input"], set()) if p.startswith(("results/data/", "results/features/"))]
        assert datasets == [f"results/data/{task}/train.parquet"], (job["output"], datasets)
    assert any(p in ancestors(job["input"], set()) for job in training for p in (j["output"][0] for j in measured))
    # ... while every target job does read its target's test split (features and examples), to evaluate
    evals = [job for job in jobs if job["rule"] in TARGET_RULES]
    assert evals and all(len(job["named_input"]["test_features"] + job["named_input"]["test_data"]) == 2 for job in evals)
    # the jobs that run on the submit host are those the plan leaves out of the cluster jobs
    from xlt.analysis.planning import LOCAL_RULES

    assert {j["rule"] for j in jobs if j["local"]} <= set(LOCAL_RULES) and not {j["rule"] for j in jobs if not j["local"]} & set(LOCAL_RULES)
    assert {"prepare_dataset", "all"} <= {j["rule"] for j in jobs if j["local"]}


def designs_of(configfile) -> list[list[int]]:
    """Every study model's seeds and baseline seeds."""
    from xlt.workflow import designs, plan

    config = yaml.safe_load(Path(configfile).read_text())
    return [[*v["study"]["seeds"], *plan.baseline_seeds(v)] for v in designs.views(config)]


def test_study_dry_run_lists_the_full_matrix(study_workdir, tmp_path):
    """The study's dry run under the SLURM profile, as a cluster user starts it: bloom-560m's full design (no
    waves: every seed) and bloom-1b7's reduced one (its own tasks and variants; the first of its waves — the
    others join after its interim look). Each target run is one cluster job that also evaluates every
    language of its target and leaves no checkpoint; the unpinned repositories are named."""
    from xlt.workflow import pins

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
    # + the standard checkpoints target selection starts from: every single task x 3 selection seeds per model
    assert counts["train_intermediate"] == n_inter * n_var * n_seeds + r_inter * r_var * r_seeds + (n_inter + r_inter) * 3 \
        == 756 + 64 + 39
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
    # learning rates: MNLI from the pretrained model (3 x 3 seeds); PAWS-X from the pretrained model and every
    # single task's standard checkpoint (3 values x 3 seeds each); TyDiQA the same with 4 epoch counts too
    assert counts["select"] == 2 * 3
    assert counts["select_point"] == sum(9 + (1 + tasks) * 3 * 3 + (1 + tasks) * 12 * 3 for tasks in (n_inter, r_inter))
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
    figures = [*(f"{name}_{t}" for t in demo["study"]["targets"] for name in ("heatmap", "languages")), "gap",
               "training_curves"]
    for fig in figures:  # every figure for the report (PNG) and for a paper (PDF)
        assert (rep / "figures" / f"{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (rep / "figures" / f"{fig}.pdf").read_bytes()[:5] == b"%PDF-"
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
    # the span ceiling (no model run) per TyDiQA language, shown under the TyDiQA table with the `auto` lengths
    ceiling = pd.read_csv(rep / "span_ceiling.csv")
    assert ceiling["language"].tolist() == demo["study"]["targets"]["tydiqa"] and set(ceiling["target"]) == {"tydiqa"}
    assert ceiling["oracle_exact_match"].between(0, 100).all() and ceiling["over_answer_cap"].between(0, 1).all()
    lengths = json.loads((workdir / "results" / "lengths" / "tiny-bloom" / "tydiqa.json").read_text())
    assert (ceiling["max_answer_length"] == lengths["max_answer_length"]).all()
    assert (ceiling["max_query_length"] == lengths["max_query_length"]).all()
    block = summary.split("#### tydiqa: span ceiling")[1]
    assert summary.index("### tydiqa: f1") < summary.index("#### tydiqa: span ceiling")
    assert f"max_answer_length {lengths['max_answer_length']}, max_query_length {lengths['max_query_length']}" in block
    assert "| tiny-bloom | ko |" in block and "mean oracle F1 per language group is in_pretraining" in block


@pytest.mark.slow
def test_every_demo_figure_is_labelled_and_keeps_its_text_inside_the_canvas(demo_run):
    """Every figure rebuilt from the demo's own outputs, as the figures and training_curves jobs draw them:
    axes labelled, the interval kind said, no text outside the canvas (each text's box and the figure's
    tight box inside the figure's box) — and the jobs themselves warned of none."""
    import matplotlib.pyplot as plt

    from xlt.analysis import figures as F
    from xlt.analysis.curves import chance_by_task, collect
    from xlt.steps.report import chance_by_language

    workdir, _ = demo_run
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    rep = workdir / "results" / "report"
    agg, comps = pd.read_csv(rep / "aggregate.csv"), pd.read_csv(rep / "comparisons.csv")
    figures = {}
    for target, langs in demo["study"]["targets"].items():
        chance = chance_by_language(target, workdir / "results" / "data" / target / "test.parquet", langs)
        figures[f"heatmap_{target}"] = F.heatmap(comps, target, chance.get("avg-xx"))
        figures[f"languages_{target}"] = F.language_intervals(comps, target, langs, chance)
    figures["gap"] = F.gap_plot(agg, list(demo["study"]["targets"]))
    logs = sorted((workdir / "results" / "intermediate").rglob("train_log.jsonl"))
    runs = [{"model": p.parts[-5], "task": p.parts[-4], "variant": p.parts[-3], "seed": int(p.parts[-2][4:])}
            for p in logs]
    figures["training_curves"] = F.training_curves(
        collect(runs, [str(p) for p in logs]), chance_by_task(runs, [str(p.parent / "dev_metrics.json") for p in logs]))
    for name, fig in figures.items():
        assert F.overflow(fig) == [], name
        assert fig.get_suptitle(), name
        for ax in fig.axes:
            if ax.get_label() != "<colorbar>" and ax.has_data():
                shared = ax.get_shared_x_axes().get_siblings(ax)  # stacked panels: the bottom one names x
                assert ax.get_ylabel() and any(a.get_xlabel() for a in shared), (name, ax.get_title())
        if name != "training_curves":  # the curves are single runs: no intervals
            assert "95% CI" in " ".join(t.get_text() for t in fig.findobj(plt.Text)), name
        plt.close(fig)
    assert "WARNING" not in (workdir / "results" / "logs" / "figures" / "all.log").read_text()
    assert "WARNING" not in (workdir / "results" / "logs" / "training_curves" / "all.log").read_text()


def rendered_text(dom: str) -> str:
    """The text a reader sees in the report's app (#app), scripts and styles left out."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.open, self.depth, self.parts = [], None, []

        def handle_starttag(self, tag, attrs):
            if tag in ("br", "img", "hr", "meta", "link", "input"):
                return
            self.open.append(tag)
            if dict(attrs).get("id") == "app" and self.depth is None:
                self.depth = len(self.open)

        def handle_endtag(self, tag):
            if tag in self.open:
                while self.open and self.open.pop() != tag:
                    pass
            if self.depth is not None and len(self.open) < self.depth:
                self.depth = None

        def handle_data(self, data):
            if self.depth is not None and not {"script", "style"} & set(self.open):
                self.parts.append(data)

    parser = Text()
    parser.feed(dom)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture(scope="module")
def chromium(needs_outside):
    """A headless Chromium: the one on PATH, or Debian's package installed by the project's script (as root
    with apt-get, about half a minute); where it cannot be had the test is skipped, or fails under CI=true."""
    script = ROOT / "scripts" / "install-chromium.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    if proc.returncode == 2:
        why = proc.stderr.strip().removeprefix("install-chromium: cannot provide a Chromium here: ")
        needs_outside(f"no Chromium here and {script.relative_to(ROOT)} cannot install one: {why}")
    if proc.returncode != 0:
        pytest.fail(f"{script} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def test_install_chromium_names_why_apt_failed(tmp_path):
    """scripts/install-chromium.sh where apt-get fails: exit 2 (the test skips, or fails under CI) with apt's
    own message, however short, in the reason."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id", "tail"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "apt-get").write_text("#!/bin/sh\necho 'E: Unable to locate package chromium'\nexit 100\n")
    (bin_dir / "apt-get").chmod(0o755)
    proc = subprocess.run([shutil.which("bash"), str(ROOT / "scripts" / "install-chromium.sh")], capture_output=True,
                          text=True, env={"PATH": str(bin_dir)})
    if proc.returncode == 2 and "needs root" in proc.stderr:
        pytest.skip("not root: the script stops before apt-get")
    assert proc.returncode == 2 and proc.stderr.rstrip().endswith("E: Unable to locate package chromium"), proc.stderr


@pytest.mark.slow
def test_the_printed_report_command_works_and_the_report_opens_on_the_answer(demo_run, chromium, tmp_path):
    """The demo's closing message prints the `snakemake --report` command; run exactly as printed (from
    another directory, in a shell), it writes the report, which headless Chromium renders with the
    answer's first line on its front page; the answer and every table are pages the report displays."""
    import base64
    import shlex

    workdir, proc = demo_run
    command = re.search(r"HTML report: (.+)$", proc.stdout + proc.stderr, flags=re.M).group(1).strip()
    assert "--configfile" in command and "--report results/report/report.html" in command
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"{command}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    report = workdir / "results" / "report" / "report.html"
    assert report.stat().st_size > 10_000
    page = report.read_text()
    # the answer and the four tables are in the report as HTML (displayed, not downloaded); the CSVs beside them
    for name in ("summary", "aggregate", "comparisons", "run_variance", "sensitivity"):
        assert f"{name}.html" in page, name
    for name in ("aggregate", "comparisons", "run_variance", "sensitivity"):
        assert f"{name}.csv" in page, name
    summary_html = (workdir / "results" / "report" / "html" / "summary.html").read_text()
    assert base64.b64encode(summary_html.encode()).decode()[:200] in page.replace("\n", "")
    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    dom = subprocess.run([*browser, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    seen = rendered_text(dom.stdout)
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    first = next(line for line in summary.splitlines() if line.startswith("- **"))
    first = " ".join(re.sub(r"[*`]", "", first.removeprefix("- ")).split())
    assert first in seen, f"the answer's first line is not on the rendered page:\n{first}\n---\n{seen[:3000]}"
    assert "snakemake" in shlex.split(command)  # a plain shell command (after a `cd` where the run used -d)


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
def test_a_later_wave_trains_only_the_arms_an_open_family_needs(demo_run, tmp_path):
    """The finished demo without its wave-2 runs, and a first look that decided the adversarial family but
    left task_vs_baseline open: wave 2 trains the standard arms and the baseline — what task_vs_baseline
    compares — and no FreeLB run (plan.family_needs)."""
    workdir = tmp_path / "demo"
    shutil.copytree(demo_run[0], workdir, symlinks=True)
    for stage in ("intermediate", "target", "eval"):
        for run in list((workdir / "results" / stage).rglob("seed2")):
            shutil.rmtree(run)
    path = workdir / "results" / "interim" / "tiny-bloom" / "wave1.json"
    look = json.loads(path.read_text())
    for family in look["families"]:
        family["decided"] = family["family"] == "adversarial_vs_standard"
    path.write_text(json.dumps({**look, "continue": True}))
    out = snakemake(workdir, "-n", configfile=ROOT / "config" / "demo.yaml").stdout
    jobs = re.findall(r"rule (train_\w+):.*?wildcards: ([^\n]+)", out, re.S)
    wave2 = [wc for _, wc in jobs if "seed=2" in wc]
    assert wave2 and not [wc for wc in wave2 if "freelb" in wc], wave2
    assert any("inter=none" in wc for wc in wave2) and any("task=squad" in wc and "variant=standard" in wc for wc in wave2)


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
    assert set(counts) - {"total"} == {"statistics", "figures", "summary", "report_pages", "all"} | behind, out
    snakemake(workdir, "--cores", "2", configfile=edited)
    assert (workdir / "results" / "preregistration.json").read_text() == declared  # never rewritten
    summary = (workdir / "results" / "report" / "summary.md").read_text()
    assert "**Amended after the declaration**" in summary
    assert "`report.equivalence_margin`: declared 1.0, now 0.5" in summary
    # re-declare: only the summary re-runs (the declaration it reads changes); the next run writes the file
    (workdir / "results" / "preregistration.json").unlink()
    out = snakemake(workdir, "-n", "--quiet", "rules", configfile=edited).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert set(counts) - {"total"} == {"summary", "report_pages", "all"}, out
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
        # train_intermediate: the study's runs and target selection's starting checkpoints (stage selection)
        done, running, failed, waiting, skipped, of = map(sum, zip(*[v for (_, _, r), v in rows.items() if r == rule]))
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
    wave1 = {rule: sum(j["rule"] == rule and j["wave"] == 1 for j in every) for rule in ("train_intermediate", "train_target")}
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
    look = workdir / "results" / "interim" / "tiny-bloom" / "wave1.json"
    # a look that decided the adversarial family only: wave 2 trains what task_vs_baseline still needs (the
    # standard arms and the baseline), as the DAG does (plan.run_needed); FreeLB's wave-2 runs are not needed
    decided = json.loads(look.read_text())
    for family in decided["families"]:
        family["decided"] = family["family"] == "adversarial_vs_standard"
    look.write_text(json.dumps(decided))
    rows = _status_rows(_status(workdir))
    freelb2 = lambda rule: sum(j["rule"] == rule and j["design_run"]["variant"] == "freelb" for j in wave2)  # noqa: E731
    assert rows[("target", "tiny-bloom", "train_target_paws_x")][4] == freelb2("train_target") // 2 == 3
    assert rows[("intermediate", "tiny-bloom", "train_intermediate")][4] == freelb2("train_intermediate") == 2
    assert rows[("intermediate", "tiny-bloom", "train_multitask")] == (2, 0, 0, 1, 1, 4)
    # a look that decided every family: wave 2 is not needed, nothing of it is left
    decided["continue"] = False
    for family in decided["families"]:
        family["decided"] = True
    look.write_text(json.dumps(decided))
    rows = _status_rows(out := _status(workdir))
    assert rows[("target", "tiny-bloom", "train_target_paws_x")] == (7, 0, 0, 0, 7, 14)
    assert rows[("intermediate", "tiny-bloom", "train_multitask")] == (2, 0, 0, 0, 2, 4)
    assert "-> stop: waves 2-2 are not trained" in out
    assert re.search(r"^Left: 6 report jobs", out, flags=re.M), out
