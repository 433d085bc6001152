"""What a study config will cost and whether it can answer, before the first job runs:

    python -m xlt.analysis.planning [--configfile config.yaml] [--directory .]

prints jobs per stage and rule (the counts `snakemake -n` prints), GPU-hours per model, stage, arm and
variant, checkpoint disk, and per confirmatory test its minimum detectable effect (MDE), its power for
`report.effect_of_interest` and the seeds that effect needs; it warns when the GPU-hours exceed
`study.budget_gpu_hours`. Nothing is trained or downloaded; the config is validated as the DAG would be.

GPU-hours reuse the SLURM sizing of xlt/workflow/cluster.py (one cost model): per training job 1.5 x tokens x
the variant's passes (xlt.adversarial.methods.expected_cost) / `cluster.tokens_per_minute`, tokens from the
featurised training splits under --directory where they exist, else published sizes and half the max
length per sequence. Evaluation (forward passes over every language's test set) runs inside each target
job (train_target_<target>) and is not priced.

Power: xlt/analysis/power.py (`contrast_mde`, the formula; `item_se`, the item part from the test sets' sizes)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from xlt.workflow import calibration, cluster, plan
from xlt.workflow.cluster import BLOOM_ARCHITECTURE, bloom_parameters, parameters  # noqa: F401 (the plan's disk table)
from xlt.workflow.config import report_settings, training_config
from xlt.workflow import jobs as design_jobs
from xlt.workflow.validate import validate_config
from xlt.workflow.designs import model_names, own_design, view, views
from xlt.analysis.power import (TEST_SIZE, confirmatory_targets, contrast_mde,
                                 contrast_se, families, item_se, power_at)

ROOT = Path(__file__).resolve().parents[2]

# rule -> stage, in the order the tables list them
STAGES = {"data": ["build_demo_fixtures", "prepare_dataset", "snapshot_model", "copy_local_model",
                   "build_demo_model", "measure_lengths", "featurize"],
          "selection": ["select_point", "select"],
          "calibration": ["calibrate_point", "calibrate"],
          "intermediate": ["train_intermediate", "train_multitask"],
          "target": [],   # train_target_<target>: one rule per target, each run trained and evaluated in one job
          "report": ["interim", "training_curves", "example_scores", "matrix", "statistics", "figures",
                     "span_ceiling", "summary", "report_pages", "pilot_report", "all"]}
TRAINING_STAGES = ("selection", "calibration", "intermediate", "target")

# ---- jobs ----

def _needed_splits(config: dict) -> list[tuple[str, str]]:
    """Every (task, split) a job reads: each study task's parts (training tasks: train/dev and extra dev
    splits; targets also test)."""
    from xlt.data.tasks import get_task

    return [(t, s) for t in plan.study_tasks(config) for s in get_task(t).parts]


def selection_stage_counts(config: dict) -> dict[str, int]:
    """select_point / select / calibrate_point / calibrate jobs, as xlt.workflow.calibration.selection_stage_jobs lists
    them (through xlt/workflow/selection.py and xlt/workflow/calibration.py, so their grids, controls and seeds rule)."""
    return {rule: len(runs) for rule, runs in calibration.selection_stage_jobs(config).items()}


def job_counts(config: dict) -> dict[str, int]:
    """{rule: jobs} of `snakemake all` on a fresh directory, rules with no job left out. With study.waves,
    the maximum design: every wave trained (a dry run lists the first wave's jobs only, the later ones
    join when a look leaves a family open)."""
    from xlt.data.tasks import get_task
    from xlt.workflow import selection
    from xlt.workflow.config import auto_coverage, dataset_source

    s = config["study"]
    splits = _needed_splits(config)
    kinds = [next(k for k in ("hub", "local", "demo") if k in config["models"][m]) for m in model_names(config)]
    inter = plan.intermediate_runs(config)
    target = plan.target_runs(config)
    counts = {
        "build_demo_fixtures": int(any("demo" in dataset_source(config, t) for t, _ in splits)),
        "prepare_dataset": len(splits),
        "snapshot_model": kinds.count("hub"), "copy_local_model": kinds.count("local"),
        "build_demo_model": kinds.count("demo"),
        "featurize": sum(len(_needed_splits(v)) for v in views(config)),  # each model its own design's tasks
        # `auto` lengths: each model's span-QA tasks, measured once on their English train split
        "measure_lengths": sum(len({t for t, _ in _needed_splits(v) if get_task(t).format == "span_qa"})
                               for v in views(config)) if auto_coverage(config) else 0,
        **selection_stage_counts(config),
        # the study's runs and the standard checkpoints target selection starts from (selection seeds)
        "train_intermediate": sum(r["task"] != plan.MULTITASK for r in inter) + len(selection.start_runs(config)),
        "train_multitask": sum(r["task"] == plan.MULTITASK for r in inter),
        **{f"train_target_{t}": sum(r["target"] == t for r in target) for t in s["targets"]},
        **dict.fromkeys(STAGES["report"], 1),
        # seeds in waves: the maximum design (every wave trained), one interim look per model and wave but the last
        "interim": sum(len(w) - 1 for w in plan.model_waves(config).values()),
        "span_ceiling": int(any(get_task(t).format == "span_qa" for t in s["targets"])),
        "pilot_report": int("pilot" in config),  # a pilot's report (rules/pilot.smk)
    }
    order = list(STAGES)
    rules = sorted((r for r, n in counts.items() if n), key=lambda r: order.index(stage_of(r)))  # stable
    return {rule: counts[rule] for rule in rules}


def stage_of(rule: str) -> str:
    if rule.startswith("train_target_"):
        return "target"
    return next(stage for stage, rules in STAGES.items() if rule in rules)


# ---- GPU time ----

def training_jobs(config: dict, directory: Path = Path(".")) -> list[dict]:
    """One record per training job of xlt.workflow.jobs (the design's one list): {stage, model, arm
    (intermediate task, `multitask` or `none`), variant, target, seed (intermediate and target runs), minutes,
    run (its name under results/logs/<rule>/), wave (0: selection and calibration, before the waves)};
    calibration first, then selection, intermediate and target; minutes from cluster.gpu_minutes with the
    featurised token counts where they exist."""
    from xlt.workflow import selection

    views_ = {m: view(config, m) for m in model_names(config)}

    def stats(model, task):
        tasks = plan.multitask_tasks(views_[model]) if task == plan.MULTITASK else [task]
        return {t: cluster.feature_stats(directory / plan.features_file(model, t, "train")) for t in tasks}

    cal = calibration.settings(config)
    out = []
    for job in sorted(design_jobs.training_jobs(config), key=_plan_order):  # stable: each kind in the design's order
        r, v = job["design_run"], views_[job["model"]]
        if job["rule"] == "calibrate_point":
            training = selection.for_runtime(selection.upper_bound(config, "intermediate", calibration.training(v)))
            minutes = cluster.gpu_minutes(v, cal["task"], training, calibration.point_block(config, r["variant"], r["point"]),
                                          stats(r["model"], cal["task"]))
            record = dict(arm=cal["task"], variant=r["variant"], target="")
        elif job["rule"] == "select_point":
            training = selection.for_runtime(selection.upper_bound(config, r["stage"], selection.point_training(
                v, r["stage"], r["task"], r["point"]), r["task"]))
            minutes = cluster.gpu_minutes(v, r["task"], training, {"method": "standard"}, stats(r["model"], r["task"]))
            record = dict(arm=r["task"], variant="standard", target="")
        elif job["stage"] == "target":
            training = selection.upper_bound(config, "target", training_config(v, "target", r["target"]), r["target"])
            minutes = cluster.gpu_minutes(v, r["target"], training, cluster.target_variant_block(config, r["variant"]),
                                          stats(r["model"], r["target"]))
            record = dict(arm=r["inter"], variant=r["variant"], target=r["target"], seed=r["seed"])
        else:  # an intermediate run, or a standard checkpoint target selection starts from (stage selection)
            training = selection.upper_bound(config, "intermediate", training_config(v, "intermediate", r["task"]))
            minutes = cluster.gpu_minutes(v, r["task"], training, config["variants"][r["variant"]],
                                          stats(r["model"], r["task"]))
            record = dict(arm=r["task"], variant=r["variant"], target="", seed=r["seed"])
        out.append(dict(stage=job["stage"], model=job["model"], **record, minutes=minutes, run=job["run"],
                        wave=job["wave"]))
    return out


def _plan_order(job: dict) -> int:
    """Calibration, selection's grid points, its starting checkpoints, the intermediate runs, the target runs."""
    if job["stage"] in ("calibration", "selection"):
        return {"calibrate_point": 0, "select_point": 1}.get(job["rule"], 2)
    return 3 if job["stage"] == "intermediate" else 4


def token_sources(config: dict, directory: Path) -> dict[str, str]:
    """{task: 'featurised' | 'stand-in'} for every trained task of every study model."""
    out = {}
    for m, v in zip(model_names(config), views(config)):
        for t in plan.study_tasks(v):
            found = cluster.feature_stats(directory / plan.features_file(m, t, "train")) is not None
            out[t] = "featurised" if found and out.get(t, "featurised") == "featurised" else "stand-in"
    return out


# ---- disk ----

def checkpoints_kept(config: dict) -> dict[str, int]:
    """{model: checkpoints left on disk by `all`}: every intermediate run's (the target selection's starting
    checkpoints too), and the target runs' when
    study.keep_target_checkpoints (calibration, selection and target checkpoints are otherwise temp())."""
    from xlt.workflow import selection

    keep_target = bool(config["study"].get("keep_target_checkpoints"))
    starts = selection.start_runs(config)  # target selection's starting checkpoints (selection seeds)
    out = {}
    for m in config["study"]["models"]:
        out[m] = sum(r["model"] == m for r in [*plan.intermediate_runs(config), *starts])
        out[m] += keep_target * sum(r["model"] == m for r in plan.target_runs(config))
    return out


# ---- cluster jobs and shared storage ----

# rules that run on the submit host (rules/data.smk's localrules; `all` runs nothing): not cluster jobs
LOCAL_RULES = ("prepare_dataset", "snapshot_model", "copy_local_model", "all")


def cluster_jobs(counts: dict[str, int]) -> int:
    """Jobs submitted to the cluster (job_counts less the submit host's)."""
    return sum(n for rule, n in counts.items() if rule not in LOCAL_RULES)


def target_checkpoints(config: dict, directory: Path = Path(".")) -> dict[str, tuple[int, int | None]]:
    """{model: (target runs, bytes of one target checkpoint's body)} of the maximum design; bytes None when
    the model's size is unknown or its target stage trains LoRA adapters (small)."""
    out = {}
    for m in model_names(config):
        v, p = view(config, m), parameters(config, m, directory)
        runs = plan.target_runs(v)
        blocks = [training_config(v, "target", t) for t in v["study"]["targets"]]
        size = None
        if p is not None and not any(b.get("lora") for b in blocks):
            size = max(p * (2 if b.get("save_dtype") == "bfloat16" else 4) for b in blocks)
        out[m] = (len(runs), size)
    return out


def cluster_storage_lines(config: dict, counts: dict[str, int], directory: Path = Path(".")) -> list[str]:
    """Cluster jobs and target-checkpoint bytes through the shared filesystem: each target run trained and
    evaluated in one job, its checkpoint in the job's node-local tmpdir (now), against a target job that
    writes its checkpoint to shared storage for a separate evaluation job to read back (before)."""
    keep = bool(config["study"].get("keep_target_checkpoints"))
    per_model = target_checkpoints(config, directory)
    runs = sum(n for n, _ in per_model.values())
    written = sum(n * b for n, b in per_model.values() if b)
    unknown = [m for m, (n, b) in per_model.items() if n and b is None]
    size = (f"{written / 1e12:,.1f} TB" if written >= 1e12 else _bytes(written)) + \
        (f" + {', '.join(unknown)} (size unknown or LoRA)" if unknown else "")
    rows = [["evaluation in a job of its own (before)", f"{size} written, read back by {runs:,} evaluation jobs",
             f"{cluster_jobs(counts) + runs:,}"],
            ["evaluation in the target job (now)",
             f"{size} written (study.keep_target_checkpoints)" if keep else "0 B (node-local tmpdir, deleted)",
             f"{cluster_jobs(counts):,}"]]
    by_model = ", ".join(f"{m} {n:,} x {_bytes(b) if b else 'unknown'}" for m, (n, b) in per_model.items())
    return ["", f"Cluster jobs and target checkpoints through shared storage ({runs:,} target runs: {by_model}):",
            *_table(["target runs and their evaluation", "target checkpoints to shared storage", "cluster jobs"],
                    rows, "llr")]


# ---- power (the model: xlt/analysis/power.py) ----

def power_rows(config: dict, measured: dict | None = None, extra: tuple[str, ...] = ()) -> list[dict]:
    """Per model, confirmatory family and target: MDE on the non-English average at the model's seeds, power
    for effect_of_interest and the seeds it needs (the arms' seeds; a declared baseline_seeds stays as it
    is), at the run sd measured in results that exist (`measured`: {(model, target): sd}, see
    `measured_run_sd`), else report.assumed_run_sd[target]; `run_sd_from` says which. `extra`: families
    priced as if every model declared them (power.families)."""
    report = report_settings(config)
    run_sds = report.get("assumed_run_sd") or {}
    rows = []
    for m, v in zip(model_names(config), views(config)):
        for row in _model_power_rows(v, report, extra=extra):
            got = (measured or {}).get((m, row["target"]))
            row = {"model": m, **row, "run_sd_from": "measured" if got is not None else "assumed"}
            if got is not None:
                row = {**row, **_model_power_rows(v, {**report, "assumed_run_sd": {**run_sds, row["target"]: got}},
                                                  only=(row["target"], row["family"]), extra=extra)[0]}
            rows.append(row)
    return rows


def _model_power_rows(config: dict, report: dict, only: tuple[str, str] | None = None,
                      extra: tuple[str, ...] = ()) -> list[dict]:
    alpha, power, effect = report["alpha"], report["power"], report.get("effect_of_interest")
    run_sds = report.get("assumed_run_sd") or {}
    seeds = len(config["study"]["seeds"])
    rows = []
    for target in confirmatory_targets(config):
        langs = config["study"]["targets"][target]
        sizes = {lang: TEST_SIZE[target][lang] for lang in langs}
        item_df = min(sizes.values()) - 1  # as xlt.analysis.stats.ItemDesign.item_df: the fewest clusters - 1
        for fam in families(config, target, extra):
            if only and (target, fam["family"]) != only:
                continue
            row = dict(target=target, **fam, seeds=seeds, run_sd=run_sds.get(target))
            if row["run_sd"] is None or not [lang for lang in langs if lang != "en"]:
                rows.append(row)
                continue
            ref = fam["reference_seeds"]

            def at(r):
                ise = item_se(sizes, r, fam["tasks"], ref)
                return (contrast_mde(row["run_sd"], r, fam["tasks"], ise, alpha, power, fam["tests"], item_df,
                                     fam["blocks"], ref), ise)

            row["mde"], row["item_se"] = at(seeds)
            row["run_se"], _, df = contrast_se(row["run_sd"], seeds, fam["tasks"], row["item_se"], item_df,
                                               fam["blocks"], ref)
            if effect:
                row["power"] = power_at(effect, row["mde"], df, alpha, fam["tests"], power)
                row["seeds_needed"] = next((r for r in range(2, 501) if at(r)[0] <= effect), None)
            rows.append(row)
    return rows


def measured_run_sd(config: dict, directory: Path) -> tuple[dict[tuple[str, str], float], str | None]:
    """({(model, target): run sd} measured in the results under `directory`, where from): the final
    statistics' results/report/run_variance.csv when it exists, else each model's latest interim look
    (results/interim/<model>/wave<k>.json); ({}, None) before any result."""
    import pandas as pd

    from xlt.analysis.comparisons import pooled_run_sd

    path = directory / "results" / "report" / "run_variance.csv"
    if path.exists() and path.stat().st_size > 1:
        found = pooled_run_sd(pd.read_csv(path))
        return {k: sd for k, (sd, _) in found.items()}, str(path.relative_to(directory))
    out, sources = {}, []
    for m, waves in plan.model_waves(config).items():
        looks = [directory / plan.interim_file(m, k) for k in range(1, len(waves))]
        latest = next((p for p in reversed(looks) if p.exists()), None)
        if latest is not None:
            out.update({(r["model"], r["target"]): r["run_sd"] for r in json.loads(latest.read_text()).get("run_sd", [])})
            sources.append(str(latest.relative_to(directory)))
    return out, ", ".join(sources) or None


# ---- wall-clock ----

def profile_jobs(profile: Path = ROOT / "profiles" / "slurm" / "config.yaml") -> int | None:
    """The SLURM profile's `jobs:` (jobs queued or running at once; each training job holds one GPU)."""
    try:
        return int(yaml.safe_load(profile.read_text())["jobs"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def packed(minutes: list[float], gpus: int) -> float:
    """Makespan (minutes) of jobs packed onto `gpus` GPUs longest first (LPT: within 4/3 of the best)."""
    import heapq

    load = [0.0] * max(1, gpus)
    for m in sorted(minutes, reverse=True):
        heapq.heapreplace(load, load[0] + m)
    return max(load)


def wall_clock(config: dict, jobs: list[dict], gpus: int) -> list[tuple[str, float]]:
    """[(phase, minutes)] of the training jobs on `gpus` GPUs, phase after phase as the DAG orders them:
    selection, calibration, then per wave the intermediate and the target runs (a wave starts after the
    look at the previous one), each phase packed longest job first. Jobs of one phase may in truth start
    early (a target run as soon as its intermediate run is done), so this is an upper estimate; each
    target job's evaluation (not priced) comes on top."""
    by_model = plan.model_waves(config)
    waves = max((len(w) for w in by_model.values()), default=1)
    phases = [("selection", lambda j: j["stage"] == "selection"),
              ("calibration", lambda j: j["stage"] == "calibration")]
    for k in range(1, waves + 1):
        tag = f" (wave {k})" if waves > 1 else ""
        for stage in ("intermediate", "target"):
            phases.append((stage + tag, lambda j, k=k, stage=stage: j["stage"] == stage and j["wave"] == k))
    out = []
    for name, member in phases:
        minutes = [j["minutes"] for j in jobs if member(j)]
        if minutes:
            out.append((name, packed(minutes, gpus)))
    return out


# ---- disk ----

def free_bytes(directory: Path) -> int:
    """Free bytes on the filesystem results/ under `directory` is (or, not made yet, will be) on."""
    import shutil

    where = (directory / "results").resolve()
    while not where.exists():
        where = where.parent
    return shutil.disk_usage(where).free


# ---- the printout ----

def _table(header: list[str], rows: list[list], align: str | None = None) -> list[str]:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    align = align or "l" + "r" * (len(header) - 1)
    fmt = lambda r: "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align))
    return [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]


def _h(minutes: float) -> str:
    hours = minutes / 60
    return f"{hours:,.0f}" if hours >= 10 else f"{hours:,.1f}" if hours >= 0.05 else "<0.1"


def _bytes(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def format_plan(config: dict, name: str = "config", directory: Path = Path("."), gpus: int | None = None) -> str:
    """The plan's printout; `gpus`: the wall-clock's GPUs (default: the SLURM profile's `jobs`)."""
    given = gpus is not None
    s = config["study"]
    lines = [f"Plan of {name}: targets {', '.join(s['targets'])}; models {', '.join(model_names(config))}:"]
    for m, v in zip(model_names(config), views(config)):
        vs = v["study"]
        own = sorted(k for k in own_design(config, m) if k != "training")
        waves = plan.waves(v)
        lines.append(f"  {m}: {len(plan.intermediate_names(v))} intermediate arms{' (+ none)' * bool(vs['baseline'])} x "
                     f"{len(vs['variants'])} variants x {len(vs['seeds'])} seed{'s' * (len(vs['seeds']) > 1)}"
                     + (f" in {len(waves)} waves" if len(waves) > 1 else "")
                     + (f"; own design: {', '.join(own)}" if own else "")
                     + ("; own training: " + json.dumps(own_design(config, m)["training"], sort_keys=True)
                        if own_design(config, m).get("training") else ""))
    lines.append("")
    counts = job_counts(config)
    waved = any(len(w) > 1 for w in plan.model_waves(config).values())
    lines += [f"Jobs of the maximum design (every wave of {'study.waves' if len(model_names(config)) == 1 else 'each model’s waves'}; "
              "a wave after the first runs only while a look leaves a family open):" if waved else
              "Jobs (snakemake -n counts):"]
    lines += _table(["stage", "rule", "jobs"], [[stage_of(r), r, n] for r, n in counts.items()] +
                    [["", "total", sum(counts.values())]], "llr")

    jobs = training_jobs(config, directory)
    variants = list(dict.fromkeys(x for v in views(config) for x in [*v["study"]["variants"], *plan.target_variant_labels(v)]))
    sources = token_sources(config, directory)
    stand_in = sorted(t for t, v in sources.items() if v == "stand-in")
    tpm = cluster._cfg(config)["tokens_per_minute"]
    lines += ["", f"Training jobs and GPU-hours per arm and variant ({cluster.OVERHEAD:g} x tokens x passes / tokens per minute: {tpm:,.0f} "
              f"for bloom-560m, x its parameters / the model's, x 6 / 4 with LoRA, x 6 / 8 with checkpointing; tokens: "
              + ("featurised splits" if not stand_in else
                 "published sizes x max_length/2 per sequence" if len(stand_in) == len(sources) else
                 f"featurised, stand-in for {', '.join(stand_in)}") + "; evaluation not priced):"]
    total = sum(j["minutes"] for j in jobs)
    for m in model_names(config):
        mine = [j for j in jobs if j["model"] == m]
        rows = []
        for stage in TRAINING_STAGES:
            arms = list(dict.fromkeys(j["arm"] for j in mine if j["stage"] == stage))
            for arm in arms:
                sel = [j for j in mine if j["stage"] == stage and j["arm"] == arm]
                per_v = [sum(j["minutes"] for j in sel if j["variant"] == v) for v in variants]
                rows.append([stage, arm, len(sel), *[_h(x) if x else "-" for x in per_v], _h(sum(per_v))])
        model_total = sum(j["minutes"] for j in mine)
        lines += [f"{m}: {_h(model_total)} GPU-hours at {cluster.tokens_per_minute(view(config, m)):,.0f} tokens/min"]
        lines += _table(["stage", "arm", "jobs", *variants, "GPU-h"], rows, "ll" + "r" * (len(variants) + 2))
        by_stage = {st_: sum(j["minutes"] for j in mine if j["stage"] == st_) for st_ in TRAINING_STAGES}
        lines += ["  by stage: " + ", ".join(f"{k} {_h(v)} ({100 * v / model_total:.0f}%)"
                                             for k, v in by_stage.items() if v)]
    budget = s.get("budget_gpu_hours")
    lines += [f"total: {_h(total)} GPU-hours" + (f" of study.budget_gpu_hours = {budget:,}" if budget else
                                                 " (no study.budget_gpu_hours declared)")]
    if budget and total / 60 > budget:
        lines += [f"WARNING: the design needs {_h(total)} GPU-hours, more than study.budget_gpu_hours = {budget:,}: "
                  "fewer seeds, arms or passes, or a larger budget"]
    lines += waves_lines(config, jobs)

    lines += ["", "Checkpoint disk (bodies; heads and tokenizer are small; training.save_dtype sets the precision):"]
    disk, unknown = 0, False
    for m, n in checkpoints_kept(config).items():
        p = parameters(config, m, directory)
        if p is None:
            unknown = True
            lines += [f"{m}: {n} checkpoints kept; size unknown until the model is snapshotted"]
            continue
        v = view(config, m)
        from xlt.workflow import selection

        runs = [*plan.intermediate_runs(v), *selection.start_runs(v)]  # the study's and selection's starting ones
        blocks = [training_config(v, "intermediate", r["task"]) for r in runs]
        if blocks and all(b.get("lora") for b in blocks):
            lines += [f"{m}: {n} checkpoints kept, LoRA adapters only (small)"]
            continue
        bf16 = sum(b.get("save_dtype") == "bfloat16" for b in blocks)
        kept = (n - bf16) * p * 4 + bf16 * p * 2
        disk += kept
        lines += [f"{m}: {n} checkpoints kept x {p:,} parameters = {_bytes(kept)} "
                  + (f"({bf16} in bf16; {_bytes(n * p * 4)} in fp32)" if bf16 else
                     f"fp32 ({_bytes(n * p * 2)} with save_dtype: bfloat16)")
                  + "; target checkpoints " + ("kept" if s.get("keep_target_checkpoints") else
                                               "node-local, deleted once evaluated")]
    free = free_bytes(directory)
    verdict = "enough" if free >= disk else f"NOT ENOUGH: {_bytes(disk - free)} short — more disk, " \
        "training.save_dtype: bfloat16, or fewer runs"
    lines += [f"total: {_bytes(disk)} of checkpoints" + (" (models not yet snapshotted not counted)" if unknown else ""),
              f"free on the disk of {directory / 'results'}: {_bytes(free)} — {verdict}"]

    lines += cluster_storage_lines(config, counts, directory)

    gpus = gpus or profile_jobs()
    if gpus:
        phases = wall_clock(config, jobs, gpus)
        span = sum(m for _, m in phases)
        lines += ["", f"Wall-clock of the training jobs on {gpus} GPUs ("
                  + (f"--gpus {gpus}" if given else f"the SLURM profile's `jobs: {gpus}`; --gpus N for another number")
                  + f"): about {_h(span)} hours ({span / 60 / 24:,.1f} days), at least GPU-hours / GPUs = "
                  f"{_h(total / gpus)} hours",
                  "  phase after phase, each packed onto the GPUs longest job first (an upper estimate: snakemake "
                  "starts a job once its inputs exist; evaluation not counted):",
                  "  " + ", ".join(f"{name} {_h(m)} h" for name, m in phases)]

    report = report_settings(config)
    effect = report.get("effect_of_interest")
    endpoints = report.get("endpoints") or ["avg-xx"]
    measured, source = measured_run_sd(config, directory)
    lines += ["", f"Confirmatory tests per model (non-English average; alpha {report.get('alpha', 0.05)} over the "
              f"family's m tests across {', '.join(confirmatory_targets(config))} and endpoints {', '.join(endpoints)} "
              f"(Bonferroni, Holm's first step); power {report.get('power', 0.8)}; run sd: "
              + (f"measured in {source} where it says so, else " if source else "")
              + "ASSUMED — report.assumed_run_sd, not measured on this model):"]
    rows = []
    power = power_rows(config, measured)
    for r in power:
        head = [r["model"], r["family"], r["target"], r["tests"], r["tasks"], r["seeds"]]
        if "mde" not in r:
            rows.append([*head, "undeclared", "", "", "", "", ""])
            continue
        rows.append([*head, f"{r['run_sd']:.3g} ({r['run_sd_from']})",
                     f"{r['run_se']:.2f}", f"{r['item_se']:.2f}", f"{r['mde']:.2f}",
                     f"{r['power']:.2f}" if effect else "-",
                     (r["seeds_needed"] or ">500") if effect else "-"])
    undeclared = _undeclared_format_matched(config, measured)
    for r in undeclared:
        rows.append([r["model"], "format_matched (not declared)", r["target"], r["tests"], r["tasks"], r["seeds"],
                     f"{r['run_sd']:.3g} ({r['run_sd_from']})", f"{r['run_se']:.2f}", f"{r['item_se']:.2f}", f"{r['mde']:.2f}",
                     f"{r['power']:.2f}" if effect else "-", (r["seeds_needed"] or ">500") if effect else "-"])
    lines += _table(["model", "family", "target", "m", "tasks", "seeds", "run sd", "se runs", "se items", "MDE",
                     f"power@{effect:g}" if effect else "power", f"seeds@{effect:g}" if effect else "seeds"],
                    rows, "lll" + "r" * 9)
    lines += [f"  {line}" for line in _column_notes(report, effect)]
    lines += ["", "Go / no-go per confirmatory family" + (f" (for the declared effect of interest, {effect:g} point"
                                                          f"{'s' * (effect != 1)}):" if effect else ":")]
    lines += [f"- {line}" for line in go_no_go(power, effect)]
    return "\n".join(lines)


def _undeclared_format_matched(config: dict, measured: dict) -> list[dict]:
    """Power rows of the format_matched family for the models that do not declare it (printed either way:
    whether it could answer decides whether to declare it)."""
    from xlt.workflow.designs import confirmatory

    undeclared = [m for m in model_names(config) if "format_matched" not in confirmatory(config, m)]
    if not undeclared:
        return []
    return [r for r in power_rows(config, measured, extra=("format_matched",))
            if r["model"] in undeclared and r["family"] == "format_matched" and "mde" in r]


def waves_lines(config: dict, jobs: list[dict]) -> list[str]:
    """Expected GPU-hours of each waved model under its looks (xlt/analysis/wave_plan.py), beside the maximum."""
    from xlt.analysis.wave_plan import SCENARIOS, expected_minutes
    from xlt.workflow.designs import confirmatory

    waves = plan.model_waves(config)
    if not any(len(w) > 1 for w in waves.values()):
        return []
    report = report_settings(config)
    effect = report.get("effect_of_interest")
    expected = expected_minutes(config, jobs, report)
    lines = ["", "Seeds in waves: expected GPU-hours when each look stops the arms of decided families (2,000 "
             "simulated studies at the assumed run sd; tests independent, an approximation for pricing; one wave: "
             "the maximum):"]
    rows = [[m, len(waves[m]), ", ".join(confirmatory(config, m)), _h(e["maximum"]), _h(e["no effect"]),
             _h(e["effect of interest"]) if effect else "-"] for m, e in expected.items()]
    return lines + _table(["model", "waves", "families", "maximum", SCENARIOS[0],
                           f"every test +{effect:g}" if effect else "effect"], rows, "lrlrrr")


def _column_notes(report: dict, effect: float | None) -> list[str]:
    """What the power table's columns mean, printed under it."""
    e = f"{effect:g}" if effect else "effect"
    return [
        "m: tests in the family (Holm over them); tasks: intermediate arms pooled in each test (1: one task vs none);",
        "seeds: runs per system; run sd: run-to-run sd of a system's non-English average (points), assumed or",
        "measured as it says; se runs, se items: the test's standard error from training runs and from test items",
        f"(points); MDE: the smallest true effect the test detects with power {report.get('power', 0.8)} (points);",
        f"power@{e}: the power for report.effect_of_interest; seeds@{e}: the seeds per system that effect needs.",
    ]


def go_no_go(rows: list[dict], effect: float | None) -> list[str]:
    """One sentence per model and confirmatory family: what it can detect at the run sd used (marked
    ASSUMED unless measured), and GO when every target's MDE is at most the effect of interest, else NO-GO
    with the seeds that effect needs."""
    out = []
    for (model, family), group in _groups(rows):
        if any("mde" not in r for r in group):
            out.append(f"{model} {family}: cannot say — report.assumed_run_sd is not declared for "
                       f"{', '.join(r['target'] for r in group if 'mde' not in r)}.")
            continue
        sds = sorted({f"{r['run_sd']:.3g}" for r in group})
        basis = ("at the ASSUMED run sd " if all(r["run_sd_from"] == "assumed" for r in group) else
                 "at the run sd (measured where results exist, else ASSUMED) ") + f"{'/'.join(sds)} points"
        mdes = "/".join(f"{r['mde']:.2f}" for r in group)
        powers = "/".join(f"{r['power']:.2f}" for r in group if "power" in r)
        targets = "/".join(r["target"] for r in group)
        can = f"can detect effects of {mdes} points ({targets}) {basis}"
        if not effect:
            out.append(f"{model} {family} {can}; no report.effect_of_interest declared to decide go or no-go.")
        elif all(r["mde"] <= effect for r in group):
            out.append(f"GO — {model} {family} {can}, within the {effect:g}-point effect of interest "
                       f"(power {powers}).")
        else:
            needs = "/".join(str(r["seeds_needed"] or ">500") for r in group)
            out.append(f"NO-GO — {model} {family}: only effects of {mdes} points ({targets}) or more are "
                       f"detectable {basis}; a {effect:g}-point effect needs {needs} seeds per system "
                       f"(power now {powers}).")
    return out


def _groups(rows: list[dict]):
    keys = list(dict.fromkeys((r["model"], r["family"]) for r in rows))
    return [(k, [r for r in rows if (r["model"], r["family"]) == k]) for k in keys]


def load_checked(configfile: Path, directory: Path) -> tuple[dict, list[str]]:
    """The config, validated as the DAG would be from `directory`; missing local data files (e.g. the
    CCGbank export) are returned as notes, not errors: they do not change what the study costs."""
    import os

    from xlt.workflow.config import ConfigError

    config = yaml.safe_load(configfile.read_text())
    here = Path.cwd()
    try:
        os.chdir(directory)
        validate_config(config)
        return config, []
    except ConfigError as err:
        problems = [line.strip()[2:] for line in str(err).splitlines()[1:]]
        if problems and all(" does not exist" in p for p in problems):
            return config, problems
        raise
    finally:
        os.chdir(here)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m xlt.analysis.planning", description="Cost and power of a study config, before any job runs.")
    p.add_argument("--configfile", type=Path, default=ROOT / "config.yaml")
    p.add_argument("--directory", type=Path, default=Path("."),
                   help="the workflow's working directory (featurised splits, model snapshots are read there)")
    p.add_argument("--gpus", type=int, default=None,
                   help="GPUs for the wall-clock estimate (default: the SLURM profile's `jobs`)")
    p.add_argument("--pilot", type=Path, metavar="REPORT",
                   help="a pilot's results/pilot/report.json: price the study at the throughput it measured")
    args = p.parse_args(argv)
    from xlt.workflow.config import ConfigError

    try:
        config, notes = load_checked(args.configfile, args.directory)
    except ConfigError as err:
        sys.exit(str(err))
    configfile = args.configfile.resolve()
    name = str(configfile.relative_to(ROOT)) if configfile.is_relative_to(ROOT) else str(args.configfile)
    for note in notes:
        print(f"note: {note} (the DAG stops on this; the plan does not need it)", file=sys.stderr)
    if args.gpus is not None and args.gpus < 1:
        sys.exit("--gpus must be at least 1")
    if args.pilot:
        from xlt.analysis.repricing import PilotMismatch, load_report, reprice

        try:
            config, measured = reprice(config, load_report(args.pilot), str(args.pilot))
        except PilotMismatch as err:
            sys.exit(f"--pilot {args.pilot}: {err}")
        name += f", re-priced with the pilot {args.pilot}"
        print("Measured by the pilot:\n" + "\n".join(f"  {line}" for line in measured) + "\n")
    print(format_plan(config, name, args.directory, args.gpus))


if __name__ == "__main__":
    main()
