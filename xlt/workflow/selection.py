"""Choices made on English dev: one selection stage for training keys (learning rate, ...) and, through
xlt/workflow/calibration.py, for perturbation radii.

A selection trains short runs at every point of a grid, `seeds` times each (seeds 1..n), and scores each
run once, at its end, on its task's English dev split. The horizon is a `fraction` of the real run's
schedule — round(fraction x the real run's optimizer steps), with the real run's warmup ratio and the
linear decay reaching 0 at the shortened end, so the run has the real schedule's shape — or a fixed
number of `steps` (same shape). Per point: the mean dev score over seeds and its standard error (sample
SD / sqrt(n), in points 0-100). Training keys: the best mean wins (ties: the smaller value). Radii: see
xlt/workflow/calibration.py (the best mean must beat the radius-0 control by more than its standard error).

Training keys (`study.selection`): a training block value `selected` (e.g. `learning_rate: selected`)
takes the value chosen by its stage's selection — intermediate runs (every task and the multi-task
mix) the one made on `study.selection.intermediate.task`, from the pretrained model; target runs the one
made on that target, from a declared pooled set of starting points (`target.starts`, default `all`: the
pretrained model — the `none` arm's start — and the standard intermediate checkpoint of every single
intermediate task, trained at the selection seeds), so the value is tuned for no one arm's starting point
and one value applies to every arm. A target may override the grid and horizon (`target.tasks.<target>`,
e.g. TyDiQA's epochs at the full schedule: a shortened horizon cannot compare schedules). Every selection
run uses the selection seeds (`seeds`: 101.. by default), never a study seed. All runs train standard (no
perturbation). Nothing non-English is read."""
from __future__ import annotations

import math
from itertools import product

from xlt.adversarial.budgets import is_calibrated
from xlt.data.chance import COLLAPSE_MARGIN
from xlt.workflow.config import canonical, schema_defaults, training_config
from xlt.workflow.designs import views

SELECTED = "selected"
SELECTABLE = ("learning_rate", "batch_size", "grad_accum", "epochs", "warmup_ratio", "weight_decay", "max_grad_norm")
INTEGER_KEYS = ("batch_size", "grad_accum")
STAGES = ("intermediate", "target")
SEED_BASE = 100  # `seeds: n` = seeds 101..100+n: data order and head initialisation of their own


# ---- statistics and choice rules (shared with xlt/workflow/calibration.py) ----

def standard_error(values: list[float]) -> float | None:
    """Sample SD / sqrt(n); None below 2 values (no estimate)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def point_summary(scores: dict[int, float]) -> dict:
    """{scores (by seed), mean, se, n} of one grid point."""
    values = [scores[s] for s in sorted(scores)]
    return {"scores": {str(s): scores[s] for s in sorted(scores)}, "mean": sum(values) / len(values),
            "se": standard_error(values), "n": len(values)}


def paired_difference(a: dict[int, float], b: dict[int, float]) -> dict:
    """Mean and standard error of a - b over the seeds both have (seed s of a and b share the head's
    initialisation and the batch order: the pairing removes that shared luck)."""
    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    return {"diff": sum(diffs) / len(diffs), "se": standard_error(diffs), "n": len(diffs)}


def best(rows: list[dict]) -> dict:
    """The row with the best mean; ties go to the earlier row (grids are sorted: the smaller value)."""
    return min(enumerate(rows), key=lambda ir: (-ir[1]["mean"], ir[0]))[1]


def seeds(block: dict) -> list[int]:
    """The seeds of a selection or calibration block: a list as given, or n -> 101..100+n. Disjoint from
    the study's seeds (seed_checks), so no choice is made on the data order and head initialisation of a
    confirmatory run."""
    value = block.get("seeds", schema_defaults("study", "selection")["seeds"])
    return sorted(int(s) for s in value) if isinstance(value, list) else list(range(SEED_BASE + 1, SEED_BASE + int(value) + 1))


def seed_checks(config: dict) -> list[str]:
    """study.selection.seeds and study.calibration.seeds must not meet any model's study or baseline seeds."""
    from xlt.workflow.plan import baseline_seeds

    study = {s for view in views(config) for s in [*view["study"]["seeds"], *baseline_seeds(view)]}
    out = []
    for key in ("selection", "calibration"):
        block = config["study"].get(key)
        shared = sorted(set(seeds(block)) & study) if block else []
        if shared:
            out.append(f"study.{key}.seeds: {shared} are also study seeds (study.seeds / baseline_seeds / a model's "
                       f"own): English-dev choices need seeds of their own, e.g. a count (seeds 101..) or "
                       f"[{SEED_BASE + 1}, {SEED_BASE + 2}, {SEED_BASE + 3}]")
    return out


def horizon(training: dict, block: dict) -> dict:
    """`training` cut to the selection horizon: `steps` optimizer steps, or `schedule_fraction` of the
    real schedule (resolved by xlt.steps.train once the training set's size is known); scored once, at
    the end."""
    if block.get("steps"):
        return canonical({**training, "max_steps": block["steps"], "eval_every": block["steps"]})
    return canonical({**training, "schedule_fraction": block["fraction"], "eval_every": None})


def horizon_label(block: dict) -> dict:
    return {"steps": block["steps"]} if block.get("steps") else {"fraction": block["fraction"]}


def for_runtime(training: dict) -> dict:
    """The training block as xlt.workflow.cluster sizes it: a fraction of the schedule is that fraction of its tokens."""
    f = training.get("schedule_fraction")
    if f is None:
        return training
    if training.get("max_steps"):
        return {**training, "max_steps": max(1, round(training["max_steps"] * f))}
    return {**training, "epochs": training["epochs"] * f}


def upper_bound(config: dict, stage: str, training: dict, task: str | None = None) -> dict:
    """`training` with each `selected` value at the largest value of its (stage, task)'s grid: what job
    sizes (xlt.workflow.cluster) are computed from before the selection has run."""
    g = task_block(config, stage, task).get("grid", {}) if settings(config) and stage in settings(config) else {}
    return {k: (max(g[k]) if v == SELECTED and k in g else v) for k, v in training.items()}


# ---- training keys: which blocks say `selected`, the grid, the runs ----

def settings(config: dict) -> dict | None:
    return config["study"].get("selection")


def selected_keys(training: dict) -> list[str]:
    return sorted(k for k, v in training.items() if v == SELECTED)


def consumers(config: dict) -> dict[tuple[str, str], list[str]]:
    """{(stage, task): keys it reads from a selection} for every training block of the study that says
    `selected` (intermediate tasks, the mix, the calibration task, targets)."""
    from xlt.workflow.plan import intermediate_names

    out = {}
    calibrated = any(is_calibrated(config["variants"].get(v, {})) for v in config["study"]["variants"])
    cal = config["study"].get("calibration") if calibrated else None  # a calibration that runs
    inter = dict.fromkeys([*intermediate_names(config), *([cal["task"]] if cal else [])])
    for stage, tasks in (("intermediate", inter), ("target", config["study"]["targets"])):
        for task in tasks:
            keys = selected_keys(training_config(config, stage, task))
            if keys:
                out[(stage, task)] = keys
    return out


def selection_of(config: dict, stage: str, task: str) -> tuple[str, str] | None:
    """(stage, task) of the selection a training block (stage, task) reads, or None if it reads none."""
    if (stage, task) not in consumers(config):
        return None
    return (stage, settings(config)["intermediate"]["task"]) if stage == "intermediate" else (stage, task)


def selections(config: dict) -> list[tuple[str, str]]:
    """The selections the study needs (every model's): (intermediate, <its task>) and/or (target, <each target>)."""
    return list(dict.fromkeys(selection_of(view, s, t) for view in views(config) for s, t in consumers(view)))


def task_block(config: dict, stage: str, task: str | None) -> dict:
    """The selection block of one (stage, task): the stage's grid (and starts) with the study.selection
    horizon and seeds, overlaid by `<stage>.tasks.<task>` (its own grid or horizon)."""
    block = settings(config)
    stage_block = block[stage]
    own = (stage_block.get("tasks") or {}).get(task) or {}
    horizon_keys = ("fraction", "steps")
    top = {k: v for k, v in block.items() if k not in STAGES and not (k in horizon_keys and any(h in own for h in horizon_keys))}
    return {**top, **{k: v for k, v in stage_block.items() if k != "tasks"}, **own}


def starts(config: dict, stage: str, task: str) -> list[str]:
    """Where a (stage, task) selection's runs start: the pretrained model (`none`) for the intermediate
    stage; for a target, `target.starts` — `all` (the pretrained model and every single intermediate task
    of the model's design, standard) or a list of those names."""
    from xlt.workflow.plan import BASELINE

    if stage != "target":
        return [BASELINE]
    declared = task_block(config, stage, task).get("starts", schema_defaults("study", "selection", "target")["starts"])
    design = [BASELINE, *config["study"]["intermediate"]]  # a listed start outside a model's design: not its
    return design if declared == "all" else [s for s in declared if s in design]


def start_runs(config: dict) -> list[dict]:
    """The intermediate runs that target selections start from: {model, task, variant: standard, seed} per
    starting task and selection seed (rule train_intermediate; not study runs: selection seeds only)."""
    from xlt.workflow.plan import BASELINE

    runs = {}
    for r in point_runs(config):
        if r["start"] != BASELINE:
            runs[(r["model"], r["start"], r["seed"])] = dict(model=r["model"], task=r["start"], variant="standard",
                                                            seed=r["seed"])
    return list(runs.values())


def _value(key: str, value):
    return int(value) if key in INTEGER_KEYS else float(value)


def point_label(values: dict) -> str:
    """A grid point's path segment: `learning_rate=3e-05` (keys sorted, joined by `,`)."""
    return ",".join(f"{k}={_value(k, values[k]):g}" for k in sorted(values))


def parse_point(label: str) -> dict:
    return {k: _value(k, v) for k, v in (part.split("=", 1) for part in label.split(","))}


def grid_order(labels: list[str]) -> list[str]:
    """Point labels sorted by their values (keys in name order): the smaller value first."""
    return sorted(labels, key=lambda label: [v for _, v in sorted(parse_point(label).items())])


def grid(config: dict, stage: str, task: str | None = None) -> list[str]:
    """Labels of every point of the (stage, task)'s grid (the product over its keys; sorted values)."""
    g = task_block(config, stage, task)["grid"]
    keys = sorted(g)
    return [point_label(dict(zip(keys, combo))) for combo in product(*(sorted(set(g[k])) for k in keys))]


def point_training(config: dict, stage: str, task: str, label: str) -> dict:
    """The training block of one selection run: the (stage, task) block at the grid point, cut to the horizon."""
    base = training_config(config, stage, task)
    return horizon({**base, **parse_point(label)}, task_block(config, stage, task))


def stage_settings(config: dict, stage: str, task: str | None = None) -> dict:
    """The slice of study.selection one (stage, task)'s choice depends on (seeds, horizon, grid, starts)."""
    return canonical(task_block(config, stage, task))


def point_runs(config: dict) -> list[dict]:
    """Every selection run the rules make: {model, stage, task, start, point, seed} (rule select_point)."""
    return [dict(model=m, stage=stage, task=task, start=start, point=p, seed=s) for view in views(config)
            for m in view["study"]["models"] for stage, task in selections(view)
            for start in starts(view, stage, task) for p in grid(config, stage, task)
            for s in seeds(task_block(config, stage, task))]


def result_runs(config: dict) -> list[dict]:
    """Every selection result (rule select): {model, stage, task}."""
    return [dict(model=m, stage=stage, task=task) for view in views(config) for m in view["study"]["models"]
            for stage, task in selections(view)]


def result_files(config: dict) -> list[str]:
    """results/selection/<model>/<stage>/<task>.json of every selection (selection_table's input)."""
    from xlt.workflow.plan import selection_result

    return [selection_result(**r) for r in result_runs(config)]


def resolve(train_cfg: dict, selection: str | None) -> dict:
    """`train_cfg` with every `selected` value replaced by the choice in `selection` (a result file)."""
    keys = selected_keys(train_cfg)
    if not keys:
        return train_cfg
    if selection is None:
        raise ValueError(f"training keys {keys} say `selected`, but no selection result was given "
                         "(turn on study.selection, or give the values)")
    from xlt.io import read_json

    chosen = read_json(selection)["chosen"]
    missing = [k for k in keys if k not in chosen]
    if missing:
        raise ValueError(f"{selection} chose {sorted(chosen)}, not {missing}: add them to the stage's grid")
    return {**train_cfg, **{k: chosen[k] for k in keys}}


def result(stage: str, task: str, metric: str, labels: list[str], scores: dict[str, dict],
           block: dict, chance: float | None = None, init: list[str] | None = None) -> dict:
    """The selection's record: every grid point's mean +- SE over its runs (seeds, or start x seed) and the
    choice (best mean; ties: smaller). `init`: the starting points pooled (default: the pretrained model)."""
    rows = []
    for label in labels:
        row = {"point": label, "values": parse_point(label), **point_summary(scores[label])}
        if chance is not None:
            row["collapsed"] = row["mean"] <= chance + COLLAPSE_MARGIN
        rows.append(row)
    chosen = best(rows)
    return {"stage": stage, "task": task, "selection_metric": metric, "scale": "points (0-100)",
            "seeds": seeds(block), "horizon": horizon_label(block),
            "init": "pretrained model" if not init or init == ["none"] else
                    "pooled: " + ", ".join("pretrained model" if s == "none" else f"{s} (standard)" for s in init),
            "variant": "standard", "chance": chance, "grid": rows, "chosen": chosen["values"],
            "chosen_point": chosen["point"], "rule": "best mean over seeds; ties: the smaller value"}


def selection_table(paths: list[str]) -> str:
    """Markdown for summary.md: every selection's grid points (English dev mean ± SE over its runs: seeds,
    or starting points x seeds) and the value chosen. paths: results/selection/<model>/<stage>/<task>.json."""
    from xlt.io import read_json

    lines = ["| stage | chosen on | from | point | English dev (mean ± SE) | runs | choice |",
             "|---|---|---|---|---|---|---|"]
    for path in paths:
        rec = read_json(path)
        for row in rec["grid"]:
            dev = f"{row['mean']:.2f} ± {row['se']:.2f}" if row["se"] is not None else f"{row['mean']:.2f} (1 run)"
            mark = " ".join(m for m, on in (("**chosen**", row["point"] == rec["chosen_point"]),
                                            ("collapsed", row.get("collapsed"))) if on)
            lines.append(f"| {rec['stage']} | {rec['task']} | {rec['init']} | {row['point']} | {dev} | {row['n']} | "
                         f"{mark} |")
    return "\n".join(lines)


def cross_checks(config: dict) -> list[str]:
    """`selected` values need a selection of that stage whose grid has the key."""
    out, block = [], settings(config)
    from xlt.workflow.plan import BASELINE

    if block is not None and block.get("target"):
        for target in config["study"]["targets"]:
            own = (block["target"].get("tasks") or {}).get(target) or {}
            where = f"study.selection.target.tasks.{target}" if "starts" in own else "study.selection.target"
            if ("fraction" in own) and ("steps" in own):
                out.append(f"study.selection.target.tasks.{target}: give at most one horizon (fraction or steps)")
            if ("target", target) in consumers(config) and not starts(config, "target", target):
                out.append(f"{where}.starts: none of {task_block(config, 'target', target).get('starts')} is a "
                           f"starting point of this design; allowed: all, or some of "
                           f"{', '.join([BASELINE, *config['study']['intermediate']])}")
    for (stage, task), keys in consumers(config).items():
        own = config["training"].get(stage, {}).get(task, {})
        where = f"training.{stage}.{task}" if any(k in own for k in keys) else "training.defaults"
        if block is None or stage not in block:
            out.append(f"{where}: {', '.join(keys)}: selected needs study.selection.{stage} "
                       f"(grid: {{{keys[0]}: [...]}}), or give the value")
            continue
        bad = [k for k in keys if k not in SELECTABLE]
        if bad:
            out.append(f"{where}: {', '.join(bad)} cannot be selected; selectable keys: {', '.join(SELECTABLE)}")
        missing = [k for k in keys if k in SELECTABLE and k not in task_block(config, stage, task)["grid"]]
        if missing:
            out.append(f"study.selection.{stage}.grid: no values for {', '.join(missing)} "
                       f"({where} says selected)")
    if block is not None:
        out += horizon_checks(block, "study.selection")
        for stage in STAGES:
            grids = [("", block.get(stage, {}).get("grid", {}))] + [
                (f".tasks.{t}", own.get("grid", {})) for t, own in (block.get(stage, {}).get("tasks") or {}).items()]
            for where_, g in grids:
                for key, values in g.items():
                    # the selection runs' own block must not wait for another selection
                    if any(v == SELECTED for v in values):
                        out.append(f"study.selection.{stage}{where_}.grid.{key}: values must be numbers")
    return out


def horizon_checks(block: dict, where: str) -> list[str]:
    """Exactly one of `fraction` / `steps`."""
    if ("fraction" in block) == ("steps" in block):
        return [f"{where}: give exactly one horizon: `fraction` (of the real run's schedule) or `steps`"]
    return []
