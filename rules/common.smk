# Wildcard constraints, run enumeration and path helpers. Logic lives in xlt.workflow.plan / xlt.workflow.config.
import os
import re
import sys

from snakemake.exceptions import WorkflowError

import xlt.workflow.pins as pins
import xlt.workflow.calibration as calibration
import xlt.workflow.designs as designs
import xlt.workflow.fingerprint as fingerprint
import xlt.workflow.cluster as cluster
import xlt.workflow.pilot as pilot
import xlt.workflow.plan as plan
import xlt.analysis.preregistration as preregistration
import xlt.workflow.selection as selection
from xlt.workflow.config import (ConfigError, auto_coverage, canonical, dataset_source, feature_config, language_groups,
                        mixing_config, model_revision, needs_lengths, qa_options, report_config, study_language_groups,
                        training_config, transfer_config, variant_block)
from xlt.workflow.validate import validate_config
from xlt.workflow.gpus import visible_gpus
from xlt.workflow.plan import data_file as data, features_file as features, model_dir
from xlt.adversarial.methods import expected_cost
from xlt.data.tasks import REGISTRY

try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

# every repository read at a branch's moving head, named once per run (not again in each cluster job)
if workflow.is_main_process and (_unpinned := pins.unpinned_warning(config)):
    print(_unpinned, file=sys.stderr)

# Local runs: at most one GPU job per visible GPU unless the user set --resources gpu=N (xlt/workflow/gpus.py);
# CPU-only machines and cluster executors are left alone.
if workflow.local_exec and not workflow.remote_exec and "gpu" not in workflow.global_resources:
    _gpus = visible_gpus()
    if _gpus:
        workflow.register_resource("gpu", len(_gpus))

STUDY = config["study"]
# per step, a hash of the xlt sources it can run: a `code` param of every rule, so editing the package
# re-runs exactly the jobs whose code changed (xlt/workflow/fingerprint.py)
CODE = fingerprint.Fingerprints(workflow.basedir)
MODELS = config["models"]
# each study model's view of the config: the study block with its own design (xlt/workflow/designs.py)
VIEWS = {m: designs.view(config, m) for m in designs.model_names(config)}
# {output-key suffix: folder} of each model's figures: results/report/figures/ for a one-model study
FIGURE_FOLDERS = ({"": "results/report/figures"} if len(VIEWS) == 1 else
                  {f"_{m}": f"results/report/figures/{m}" for m in VIEWS})
PREREGISTRATION = "results/preregistration.json"  # rules/report.smk: the confirmatory declaration


def one_of(names):
    """Regex matching exactly one of `names` (and nothing when empty)."""
    names = list(names)
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


def models_of_kind(kind):
    return [name for name, spec in MODELS.items() if kind in spec]


wildcard_constraints:
    model=one_of(MODELS),
    task=one_of(REGISTRY),
    inter=one_of([*REGISTRY, plan.MULTITASK, plan.BASELINE]),
    target=one_of(t for t, task in REGISTRY.items() if task.role == "target"),
    variant=f"({one_of(config['variants'])})({re.escape(plan.TARGET_SUFFIX)})?",
    split=one_of(sorted({s for task in REGISTRY.values() for s in task.parts})),
    seed=r"\d+",


def step(name):
    """A rule's `step` and `code` params: the xlt step its jobs run ("xlt.steps.<module>:<function>", called by
    workflow_scripts/step.py with the rule's own input, output and params names) and its code fingerprint."""
    try:
        return {"step": name, "code": CODE[name]}
    except KeyError as err:
        raise WorkflowError(err.args[0]) from None


# ---- wildcard-pattern shorthands used by the rules ----
INTER = ("{model}", "{task}", "{variant}", "{seed}")
MULTI = ("{model}", plan.MULTITASK, "{variant}", "{seed}")
TARGET = ("{model}", "{inter}", "{variant}", "{target}", "{seed}")


DEMO_FIXTURES = "results/demo/fixtures"  # the demo's generated datasets: <task>/<split>.parquet (rules/data.smk)


def dataset_input(wildcards):
    """The demo's generated fixture when the dataset's source is `demo`, else nothing (Hub/local)."""
    if "demo" in dataset_source(config, wildcards.task):
        return f"{DEMO_FIXTURES}/{wildcards.task}/{wildcards.split}.parquet"
    return []


def prepared_source(wildcards):
    """Where prepare_dataset reads a task: its configured source; a demo fixture is already normalised."""
    source = dataset_source(config, wildcards.task)
    return {"normalised": f"{DEMO_FIXTURES}/{wildcards.task}"} if "demo" in source else source


def featurize_inputs(wc):
    """The split to tokenise and the tokenizer; tagging also needs the train split's tag vocabulary, span QA
    with an `auto` length the lengths measured on its English train split."""
    inputs = {"data": data(wc.task, wc.split), "model_dir": model_dir(wc.model)}
    if REGISTRY[wc.task].format == "tagging":
        inputs["train_data"] = data(wc.task, "train")
    if needs_lengths(config, wc.task):
        inputs["lengths"] = plan.lengths_file(wc.model, wc.task)
    return inputs


def qa_by_task(tasks):
    return {t: qa_options(config, t) for t in tasks}


def target_init(wc):
    """Where target fine-tuning starts: the pretrained model (baseline) or an intermediate checkpoint."""
    if wc.inter == plan.BASELINE:
        return model_dir(wc.model)
    inter_variant, _ = plan.split_variant(wc.variant)
    return plan.intermediate_file(wc.model, wc.inter, inter_variant, wc.seed, "checkpoint")


def multitask_tasks(model):
    """The tasks of `model`'s multi-task mix."""
    return plan.multitask_tasks(VIEWS[model])


def calibration_input(model, variant):
    """[results/calibration/{model}/{variant}.json] when the variant's budget is calibrated, else []."""
    if variant in calibration.calibrated_variants(VIEWS[model]):
        return [plan.calibration_result(model, variant)]
    return []


def selection_input(model, stage, task):
    """[results/selection/{model}/{stage}/{task}.json] of the selection a (stage, task) training block reads
    (it says `selected`), else []."""
    made_on = selection.selection_of(VIEWS[model], stage, task)
    return [plan.selection_result(model, *made_on)] if made_on else []


def variant_blocks(models=None):
    """{model: {variant: its block}} of the models' study variants (the statistics find the arms that never
    perturb from these and the calibration records)."""
    return {m: {v: variant_block(config, v) for v in VIEWS[m]["study"]["variants"]} for m in models or VIEWS}


def intermediate_variant(wc):
    """{name, block} of an intermediate run's variant."""
    return {"name": wc.variant, "block": variant_block(config, wc.variant)}


def target_variant(wc):
    """{name, block} of the training-step variant applied at the target stage."""
    _, name = plan.split_variant(wc.variant)
    return {"name": name, "block": variant_block(config, name)}


def target_training(wc):
    """A target run's training block."""
    return training_config(config, "target", wc.target, wc.model)


def target_run(wc):
    """A target run's keys, as its evaluation records them."""
    return {"model": wc.model, "intermediate": wc.inter, "variant": wc.variant, "target": wc.target, "seed": int(wc.seed)}


# ---- the English-dev choices' runs (rules/selection.smk, rules/calibration.smk) ----


def selection_points(wc):
    """The runs of a selection ({model}, {stage}, {task}): one per grid point, starting point and seed."""
    return [r for r in selection.point_runs(config) if (r["model"], r["stage"], r["task"]) == (wc.model, wc.stage, wc.task)]


def point_training(wc):
    """A selection run's training block: the stage's at its grid point ({point}), cut to the selection horizon."""
    return selection.point_training(VIEWS[wc.model], wc.stage, wc.task, wc.point)


def calibration_points(wc):
    """The runs of a variant's calibration ({model}, {variant}): one per grid radius and seed."""
    return [r for r in calibration.point_runs(config) if (r["model"], r["variant"]) == (wc.model, wc.variant)]


def calibration_training(wc):
    """A calibration run's training block: the calibration task's intermediate block, cut to the calibration horizon."""
    return calibration.training(VIEWS[wc.model])


def point_block(wc):
    """The variant's block at a calibration run's radius ({point})."""
    return calibration.point_block(config, wc.variant, wc.point)


INTERMEDIATE_VARIANT = one_of(config["variants"])  # intermediate stage: plain variant names only


def train_token_stats(model, task):
    """Token counts of the training splits a job on `task` reads (xlt.workflow.cluster; None before featurisation)."""
    tasks = multitask_tasks(model) if task == plan.MULTITASK else [task]
    return {t: cluster.feature_stats(features(model, t, "train")) for t in tasks}


def job_runtime(stage):
    """runtime (minutes) of a training job: from the tokens in its tasks' featurised training splits (read
    when the job is scheduled; published sizes before they exist) and its variant's cost, per attempt."""
    def runtime(wc, attempt):
        view = VIEWS[wc.model]
        if stage == "target":
            task, block = wc.target, cluster.target_variant_block(view, wc.variant)
            training = training_config(view, "target", task)
        else:
            task = getattr(wc, "task", plan.MULTITASK)
            block, training = view["variants"][wc.variant], training_config(view, "intermediate", task)
        training = selection.upper_bound(view, stage, training, task)  # a `selected` epochs/batch size: its largest
        return cluster.runtime_minutes(view, task, training, block, attempt, train_token_stats(wc.model, task))
    return runtime


def job_mem_mb(wc, attempt):
    return cluster.mem_mb(config, attempt)


from xlt.io import read_json as _read_json

# Seeds in waves (study.waves, or a model's own; one wave = the fixed design): after each wave but the
# last, the `interim` checkpoint analyses the model's confirmatory families at the look's spent level
# (xlt/analysis/sequential.py); the model's next wave of training and evaluation jobs joins the DAG only through
# the input functions below, and only while its look left a family undecided. No training job reads a
# look: it decides which seeds exist.
WAVES = plan.model_waves(config)  # {model: waves}


def waves_made(model):
    """How many of its waves `model` trains: wave 1, then each next one while the look after the one
    before left a family open (Snakemake re-evaluates these functions once each checkpoint has run)."""
    made = 1
    while made < len(WAVES[model]) and open_families(model, made):
        made += 1
    return made


_LOOKS = {}  # (path, mtime) -> the families a look left open: read once, not once per run


def open_families(model, wave):
    """The confirmatory families the look after `wave` of `model` left undecided (none: it stopped the waves)."""
    path = checkpoints.interim.get(model=model, wave=wave).output[0]
    key = (path, os.stat(path).st_mtime_ns)
    if key not in _LOOKS:
        _LOOKS[key] = [f["family"] for f in _read_json(path)["families"] if not f["decided"]]
    return _LOOKS[key]


def runs_made(runs, wave=None):
    """`runs` (plan.target_runs / plan.intermediate_runs records) of the waves made (or of waves <= wave)
    that the design trains (plan.run_needed: a decided family's arms are not trained again)."""
    made = plan.runs_through_wave(config, runs, {m: waves_made(m) for m in WAVES} if wave is None else wave)
    return [r for r in made if plan.run_needed(r, WAVES[r["model"]], lambda k, m=r["model"]: open_families(m, k),
                                               STUDY["targets"])]


def target_runs_made(wave=None):
    """The target runs of the waves made (or of waves <= wave)."""
    return runs_made(plan.target_runs(config), wave)


def intermediate_runs_made():
    """The intermediate runs of the waves made."""
    return runs_made(plan.intermediate_runs(config))


def look_runs(wc):
    """The target runs an interim look ({model}, {wave}) analyses: the model's runs of its waves <= wave."""
    return runs_made([r for r in plan.target_runs(config) if r["model"] == wc.model], int(wc.wave))


def run_eval_files(runs, kind):
    """Each run's evaluation files of `kind` (predictions, metrics), run by run, in its target's language order."""
    return [plan.eval_file(**r, lang=lang, kind=kind) for r in runs for lang in STUDY["targets"][r["target"]]]


def target_dev_files(runs):
    """The target runs' English dev metrics (the matrix's `collapsed` flag)."""
    return [plan.target_file(**r, name="dev_metrics.json") for r in runs]


def intermediate_files_made(name):
    """One file of each intermediate run of the waves made: dev_metrics.json or train_log.jsonl."""
    return [plan.intermediate_file(**r, name=name) for r in intermediate_runs_made()]


TEST_DATA = [data(t, "test") for t in STUDY["targets"]]  # each target's test split, in the order of STUDY["targets"]


def interims_made(wc=None):
    """The looks made: per model, after its waves 1..min(waves made, last wave - 1)."""
    return [plan.interim_file(m, k) for m in WAVES for k in range(1, min(waves_made(m), len(WAVES[m]) - 1) + 1)]


def interim_files():
    """Every look a model's waves declare (made or not)."""
    return [plan.interim_file(m, k) for m, waves in WAVES.items() for k in range(1, len(waves))]
