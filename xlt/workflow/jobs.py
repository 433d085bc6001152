"""Every job of a study's design with the files it leaves behind: its outputs, its log and its benchmark —
the paths the rules give them (written out in each rule: results/logs/<rule>/<run>.log,
results/benchmarks/<rule>/<run>.tsv). What the status command (xlt/analysis/status.py) and the pilot
report (xlt/analysis/pilot.py) read, without Snakemake: `run` names a job as its log and benchmark do."""
from __future__ import annotations

from pathlib import Path

from xlt.workflow import calibration, plan
from xlt.workflow.designs import model_names, view

GPU_RULES = ("select_point", "calibrate_point", "train_intermediate", "train_multitask", "train_target")


def run_id(rule: str, r: dict) -> str:
    """The job's name below results/logs/<rule>/ (and results/benchmarks/<rule>/); `rule` is the log
    folder (train_target for every target's rule)."""
    if rule == "select_point":
        return f"{r['model']}/{r['stage']}/{r['task']}/{r['start']}/{r['point']}/seed{r['seed']}"
    if rule == "calibrate_point":
        return f"{r['model']}/{r['variant']}/{r['point']}/seed{r['seed']}"
    if rule == "train_multitask":
        return f"{r['model']}/{r['variant']}/seed{r['seed']}"
    if rule == "train_intermediate":
        return f"{r['model']}/{r['task']}/{r['variant']}/seed{r['seed']}"
    if rule == "train_target":
        return f"{r['model']}/{r['inter']}/{r['variant']}/{r['target']}/seed{r['seed']}"
    raise ValueError(f"no run name for rule {rule!r}")


def wall_seconds(benchmark: Path) -> float | None:
    """A finished job's wall time: the `s` column of its Snakemake benchmark file (None when there is none)."""
    if not benchmark.exists():
        return None
    import pandas as pd

    return float(pd.read_csv(benchmark, sep="\t")["s"].iloc[0])


def _files(job: dict) -> dict:
    return {**job, "log": f"results/logs/{job['rule']}/{job['run']}.log",
            "benchmark": f"results/benchmarks/{job['rule']}/{job['run']}.tsv"}


def training_jobs(config: dict) -> list[dict]:
    """Every training job of the maximum design (every wave): {rule (its log folder), model, stage,
    variant (the step variant it trains with), tasks, run, wave (0: before the waves), metrics (its
    dev_metrics.json), outputs (what it leaves when done), log, benchmark}; target jobs also name their
    `target` (and their outputs include every language's evaluation); each carries the record it was made
    from as `design_run` (calibration.selection_stage_jobs, selection.start_runs, plan.intermediate_runs,
    plan.target_runs): what the plan prices (xlt.analysis.planning) and plan.run_needed reads."""
    jobs = []
    stage_jobs = calibration.selection_stage_jobs(config)
    for r in stage_jobs["select_point"]:
        metrics = plan.selection_file(r["model"], r["stage"], r["task"], r["start"], r["point"], r["seed"],
                                      "dev_metrics.json")
        jobs.append(dict(rule="select_point", model=r["model"], stage="selection", variant="standard", tasks=[r["task"]],
                         run=run_id("select_point", r), wave=0, metrics=metrics, outputs=[metrics], design_run=r))
    from xlt.workflow import selection

    for r in selection.start_runs(config):  # standard checkpoints target selection starts from (selection seeds)
        metrics = plan.intermediate_file(**r, name="dev_metrics.json")
        jobs.append(dict(rule="train_intermediate", model=r["model"], stage="selection", variant="standard",
                         tasks=[r["task"]], run=run_id("train_intermediate", r), wave=0, metrics=metrics,
                         outputs=[metrics], design_run=r))
    task = (calibration.settings(config) or {}).get("task")
    for r in stage_jobs["calibrate_point"]:
        metrics = plan.calibration_file(r["model"], r["variant"], r["point"], r["seed"], "dev_metrics.json")
        jobs.append(dict(rule="calibrate_point", model=r["model"], stage="calibration", variant=r["variant"],
                         tasks=[task], run=run_id("calibrate_point", r), wave=0, metrics=metrics, outputs=[metrics],
                         design_run=r))
    for m in model_names(config):
        v = view(config, m)
        waves = plan.waves(v)
        for r in plan.intermediate_runs(v):
            rule = "train_multitask" if r["task"] == plan.MULTITASK else "train_intermediate"
            metrics = plan.intermediate_file(**r, name="dev_metrics.json")
            jobs.append(dict(rule=rule, model=m, stage="intermediate", variant=r["variant"],
                             tasks=plan.multitask_tasks(v) if rule == "train_multitask" else [r["task"]],
                             run=run_id(rule, r), wave=plan.wave_of(waves, r["seed"]), metrics=metrics, outputs=[metrics],
                             design_run=r))
        for r in plan.target_runs(v):
            metrics = plan.target_file(**r, name="dev_metrics.json")
            evals = [plan.eval_file(**r, lang=lang, kind="metrics") for lang in v["study"]["targets"][r["target"]]]
            jobs.append(dict(rule="train_target", model=m, stage="target", variant=plan.split_variant(r["variant"])[1],
                             tasks=[r["target"]], target=r["target"], run=run_id("train_target", r),
                             wave=plan.wave_of(waves, r["seed"]), metrics=metrics, outputs=[metrics, *evals],
                             design_run=r))
    return [_files(j) for j in jobs]


def other_jobs(config: dict) -> list[dict]:
    """The jobs around the training: data (datasets, models, features), the English-dev choices
    (select, calibrate), the interim looks and the report's files. {rule, model ('' when shared), stage,
    run, wave, outputs, log, benchmark}."""
    from xlt.data.tasks import get_task

    def job(rule, stage, run, outputs, model="", wave=0):
        return _files(dict(rule=rule, model=model, stage=stage, run=run, wave=wave, outputs=outputs))

    jobs = [job("prepare_dataset", "data", f"{t}/{s}", [plan.data_file(t, s)])
            for t in plan.study_tasks(config) for s in get_task(t).parts]
    if any("demo" in (config.get("datasets") or {}).get(t, {}) for t in plan.study_tasks(config)):
        jobs.append(job("build_demo_fixtures", "data", "all", ["results/demo/fixtures/mnli/train.parquet"]))
    for m in model_names(config):
        kind = next(k for k in ("hub", "local", "demo") if k in config["models"][m])
        rule = {"hub": "snapshot_model", "local": "copy_local_model", "demo": "build_demo_model"}[kind]
        jobs.append(job(rule, "data", m, [plan.model_dir(m)], m))
        jobs += [job("featurize", "data", f"{m}/{t}/{s}", [plan.features_file(m, t, s)], m)
                 for t in plan.study_tasks(view(config, m)) for s in get_task(t).parts]
    stage_jobs = calibration.selection_stage_jobs(config)
    jobs += [job("select", "selection", f"{r['model']}/{r['stage']}/{r['task']}",
                 [plan.selection_result(r["model"], r["stage"], r["task"])], r["model"]) for r in stage_jobs["select"]]
    jobs += [job("calibrate", "calibration", f"{r['model']}/{r['variant']}",
                 [plan.calibration_result(r["model"], r["variant"])], r["model"]) for r in stage_jobs["calibrate"]]
    for m, waves in plan.model_waves(config).items():  # the look after wave k decides whether wave k + 1 runs
        jobs += [job("interim", "report", f"{m}/wave{k}", [plan.interim_file(m, k)], m, wave=k) for k in range(1, len(waves))]
    jobs += [job(rule, "report", "all", [path]) for rule, path in REPORT_FILES.items()]
    first = model_names(config)[0]  # figures: one folder per model when the study has several
    jobs.append(job("figures", "report", "all", [f"results/report/figures/{'' if len(model_names(config)) == 1 else first + '/'}gap.png"]))
    if "pilot" in config:
        jobs.append(job("pilot_report", "report", "all", ["results/pilot/report.json"]))
    return jobs


# the report's jobs and one file each leaves (rules/report.smk)
REPORT_FILES = {"matrix": "results/matrix.parquet", "example_scores": "results/report/example_scores.parquet",
                "statistics": "results/report/comparisons.csv", "training_curves": "results/report/figures/training_curves.png",
                "summary": "results/report/summary.md"}
