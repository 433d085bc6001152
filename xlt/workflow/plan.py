"""Which runs the study consists of, and where each artifact lives. rules/common.smk wraps these."""
from __future__ import annotations

from itertools import product

from xlt.workflow.designs import model_names, single, views
from xlt.data.tasks import REGISTRY, get_task

BASELINE = "none"        # the no-intermediate baseline in the {inter} dimension
TARGET_SUFFIX = "+target"  # variant label of runs that also train adversarially at the target stage
MULTITASK = "multitask"  # all study intermediate tasks at once, one head each


def model_dir(model) -> str:
    return f"results/models/{model}"


def data_file(task, split) -> str:
    return f"results/data/{task}/{split}.parquet"


def features_file(model, task, split) -> str:
    return f"results/features/{model}/{task}/{split}.parquet"


def lengths_file(model, task) -> str:
    """The `auto` answer and question lengths of a span-QA task, measured on its English train split."""
    return f"results/lengths/{model}/{task}.json"


def intermediate_file(model, task, variant, seed, name) -> str:
    """name: checkpoint (folder), dev_metrics.json, train_log.jsonl"""
    return f"results/intermediate/{model}/{task}/{variant}/seed{seed}/{name}"


def target_file(model, inter, variant, target, seed, name) -> str:
    """name: checkpoint (folder), dev_metrics.json, train_log.jsonl"""
    return f"results/target/{model}/{inter}/{variant}/{target}/seed{seed}/{name}"


def calibration_file(model, variant, point, seed, name) -> str:
    """One grid point's short run with one seed; name: checkpoint (folder), dev_metrics.json, train_log.jsonl"""
    return f"results/calibration/{model}/{variant}/{point}/seed{seed}/{name}"


def calibration_result(model, variant) -> str:
    """The chosen budget and every grid point's English-dev mean +- SE."""
    return f"results/calibration/{model}/{variant}.json"


def selection_file(model, stage, task, start, point, seed, name) -> str:
    """One selection run (a training-key grid point, from one starting point — `none`: the pretrained
    model —, one seed); name as calibration_file."""
    return f"results/selection/{model}/{stage}/{task}/{start}/{point}/seed{seed}/{name}"


def selection_result(model, stage, task) -> str:
    """The chosen training values of a stage (made on `task`) and every grid point's English-dev mean +- SE."""
    return f"results/selection/{model}/{stage}/{task}.json"


def eval_file(model, inter, variant, target, seed, lang, kind) -> str:
    """kind: predictions ({id: prediction}) or metrics"""
    return f"results/eval/{model}/{inter}/{variant}/{target}/seed{seed}/{lang}.{kind}.json"


def task_files(model, tasks) -> dict[str, list[str]]:
    """What training on `tasks` reads, by role (a training rule's inputs, xlt.steps.train.fine_tune's names):
    English train/dev features and examples, one per task in the order of `tasks`, and the extra dev splits'
    (e.g. MNLI mismatched), task by task in the order of each task's `extra_dev`."""
    extra = [(t, split) for t in tasks for split in get_task(t).extra_dev]
    return {"train_features": [features_file(model, t, "train") for t in tasks],
            "dev_features": [features_file(model, t, "dev") for t in tasks],
            "train_data": [data_file(t, "train") for t in tasks], "dev_data": [data_file(t, "dev") for t in tasks],
            "extra_dev_features": [features_file(model, t, split) for t, split in extra],
            "extra_dev_data": [data_file(t, split) for t, split in extra]}


def study_tasks(config: dict) -> list[str]:
    """Every dataset the study reads: every model's intermediate tasks and multi-task mix, targets, calibration."""
    tasks = []
    for v in views(config):
        s = v["study"]
        tasks += [*s["intermediate"], *(multitask_tasks(v) if s.get("multitask") else []), *s["targets"]]
        if s.get("calibration"):
            tasks.append(s["calibration"]["task"])
        if (s.get("selection") or {}).get("intermediate"):
            tasks.append(s["selection"]["intermediate"]["task"])
    return list(dict.fromkeys(tasks))


def download_files(config: dict) -> list[str]:
    """What `snakemake download` makes on a node with internet: every normalised split and model snapshot."""
    data = [data_file(t, split) for t in study_tasks(config) for split in get_task(t).parts]
    return data + [model_dir(m) for m in model_names(config)]


# ---- one model's design (a view, xlt/workflow/designs.py; a one-model config is its own view) ----

def multitask_tasks(config: dict) -> list[str]:
    """Tasks of the multi-task mix: study.multitask_tasks, by default every study intermediate task."""
    s = single(config, "the multi-task mix")["study"]
    return list(s.get("multitask_tasks") or s["intermediate"])


def intermediate_names(config: dict) -> list[str]:
    s = single(config, "the intermediate arms")["study"]
    return list(s["intermediate"]) + ([MULTITASK] if s.get("multitask") else [])


def target_variant_labels(config: dict) -> list[str]:
    """Variant labels at the target stage: `fgm` (intermediate stage only) or `fgm+target` (both)."""
    s = single(config, "the target-stage variants")["study"]
    if not s.get("adversarial_target"):
        return list(s["variants"])
    return [v if v == "standard" else v + TARGET_SUFFIX for v in s["variants"]]


def baseline_seeds(config: dict) -> list[int]:
    """Seeds of the `none` baseline: study.baseline_seeds, by default study.seeds. More seeds there cost
    two target jobs each and give the task family's reference a run variance of its own."""
    s = single(config, "the baseline's seeds")["study"]
    return list(s.get("baseline_seeds") or s["seeds"])


def waves(config: dict) -> list[list[int]]:
    """study.waves (seeds in waves, group-sequential; their union is study.seeds), or one wave of every
    seed: the fixed design."""
    s = single(config, "the waves of seeds")["study"]
    return [list(w) for w in s.get("waves") or [s["seeds"]]]


def model_waves(config: dict) -> dict[str, list[list[int]]]:
    """{model: its waves} for every study model."""
    return {m: waves(v) for m, v in zip(model_names(config), views(config))}


def wave_of(waves_: list[list[int]], seed: int) -> int:
    """The wave (1-based) of a model's `waves_` a seed's runs belong to. Baseline seeds outside the model's
    seeds (baseline_seeds' extra runs) join wave 1: the reference is complete from the first look on."""
    return next((k for k, wave in enumerate(waves_, 1) if seed in wave), 1)


# ---- every model's runs ----

def _one_model_intermediate_runs(config: dict) -> list[dict]:
    s = config["study"]
    return [dict(model=m, task=t, variant=v, seed=seed)
            for m, t, v, seed in product(s["models"], intermediate_names(config), s["variants"], s["seeds"])]


def intermediate_runs(config: dict) -> list[dict]:
    return [r for v in views(config) for r in _one_model_intermediate_runs(v)]


def split_variant(label: str) -> tuple[str, str]:
    """Target-stage variant label -> (intermediate variant, target-stage variant)."""
    if label.endswith(TARGET_SUFFIX):
        base = label[:-len(TARGET_SUFFIX)]
        return base, base
    return label, "standard"


def _one_model_target_runs(config: dict) -> list[dict]:
    s = config["study"]
    labels = target_variant_labels(config)
    inters = [(t, v) for t in intermediate_names(config) for v in labels]
    runs = [dict(model=m, inter=i, variant=v, target=tgt, seed=seed)
            for m, (i, v), tgt, seed in product(s["models"], inters, s["targets"], s["seeds"])]
    if s["baseline"]:  # no intermediate stage: only target-stage variants differ; its own seeds (cheap)
        base = [(BASELINE, v) for v in labels if v == "standard" or v.endswith(TARGET_SUFFIX)]
        runs += [dict(model=m, inter=i, variant=v, target=tgt, seed=seed)
                 for m, (i, v), tgt, seed in product(s["models"], base, s["targets"], baseline_seeds(config))]
    return runs


def target_runs(config: dict) -> list[dict]:
    return [r for v in views(config) for r in _one_model_target_runs(v)]


def runs_through_wave(config: dict, runs: list[dict], wave: int | dict[str, int]) -> list[dict]:
    """The runs (intermediate_runs or target_runs records) of waves 1..wave (per model when a dict)."""
    last = wave if isinstance(wave, dict) else dict.fromkeys(model_names(config), wave)
    by_model = model_waves(config)
    return [r for r in runs if wave_of(by_model[r["model"]], r["seed"]) <= last[r["model"]]]


def matched_tasks(target: str, intermediates) -> list[str]:
    """The format_matched family's tasks: the intermediate tasks whose format (the task registry's) is the
    target's — sentence-pair classification for PAWS-X (MNLI, QQP, ANLI+), span QA for TyDiQA (SQuAD,
    SQuAD 2.0); never the baseline or the multi-task mix."""
    fmt = get_task(target).format
    return sorted(t for t in intermediates if t in REGISTRY and get_task(t).format == fmt)


def family_needs(family: str, run: dict, targets) -> bool:
    """Whether a confirmatory family's tests compare the arm of `run` (an intermediate_runs or target_runs
    record), so a later wave trains it while the family is open: adversarial_vs_standard every
    intermediate arm (standard and each variant), format_matched those of tasks of a target's format,
    task_vs_baseline the standard arms and the baseline. `targets`: the study targets (names)."""
    inter = run["inter"] if "inter" in run else run["task"]
    variant = split_variant(run["variant"])[0] if "inter" in run else run["variant"]
    if family == "adversarial_vs_standard":
        return inter != BASELINE
    if family == "format_matched":
        return any(matched_tasks(t, [inter]) for t in ([run["target"]] if "target" in run else targets))
    if family == "task_vs_baseline":
        return variant == "standard"
    raise ValueError(f"unknown confirmatory family {family!r}")


def run_needed(run: dict, waves: list[list[int]], open_after, targets) -> bool:
    """Whether the design trains `run` (an intermediate_runs or target_runs record) once its wave is made:
    every run of wave 1; of a later wave, the arms a family the look before it left open still needs
    (family_needs). `open_after(k)`: the families the look after wave k left undecided. The DAG
    (rules/common.smk) and the status command ask the same question."""
    wave = wave_of(waves, run["seed"])
    return wave == 1 or any(family_needs(f, run, targets) for f in open_after(wave - 1))


def interim_file(model, wave) -> str:
    """The look after `wave` of `model`'s waves (rules/report.smk's checkpoint): each of its confirmatory
    families decided or not."""
    return f"results/interim/{model}/wave{wave}.json"


def eval_files(config: dict, kind: str) -> list[str]:
    return [eval_file(**r, lang=lang, kind=kind)
            for r in target_runs(config) for lang in config["study"]["targets"][r["target"]]]


def eval_metric_files(config: dict) -> list[str]:
    return eval_files(config, "metrics")
