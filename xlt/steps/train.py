"""Step of the training rules (rules/intermediate.smk, calibration.smk, selection.smk, target.smk): fine-tuning runs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlt.io import write_json
from xlt.model.modeling import head_spec
from xlt.data.tasks import get_task
from xlt.train.loop import TaskData, TaskSpec, TrainConfig, evaluate, schedule_steps, set_seed, train


def task_spec(task_name: str, qa_options: dict, labels: list[str] | None = None,
              lengths: dict | None = None) -> TaskSpec:
    """Format and scoring options of a task; `labels` = the tag vocabulary of a tagging task; `lengths` =
    the measured lengths an `auto` option takes (its features' attrs["lengths"], xlt/model/lengths.py)."""
    from xlt.model.lengths import resolve

    task = get_task(task_name)
    options = dict(task.score_options)
    if task.format == "span_qa":
        options.update(resolve(qa_options, lengths, f"qa options of {task_name}"), allow_no_answer=task.allow_no_answer)
    if task.format == "tagging":
        options["labels"] = list(labels)
    return TaskSpec(format=task.format, selection_metric=task.selection_metric, options=options)


def head_spec_for(task_name: str, labels: list[str] | None = None) -> dict:
    task = get_task(task_name)
    return head_spec(task.format, len(labels) if task.format == "tagging" else task.num_labels)


def resolve_budget(block: dict | None, calibration: str | None) -> dict | None:
    """A `budget: calibrated` block with the radius its calibration chose (budgets.with_radius)."""
    if not block or block.get("budget", "fixed") != "calibrated":
        return block
    if calibration is None:
        raise ValueError(f"variant block {block} says budget: calibrated, but no calibration result was given "
                         "(turn on study.calibration, or set budget: fixed)")
    from xlt.adversarial.budgets import with_radius
    from xlt.io import read_json

    return with_radius(block, read_json(calibration)["chosen"])


def apply_fraction(train_cfg: dict, sizes: dict[str, int], mixing: dict | None) -> dict:
    """A training block with `schedule_fraction`: max_steps = round(fraction x the real run's steps) (at
    least 1), scored at that end; warmup stays warmup_ratio of the shortened run. Other blocks unchanged."""
    if train_cfg.get("schedule_fraction") is None:
        return {k: v for k, v in train_cfg.items() if k != "schedule_fraction"}
    fraction = train_cfg["schedule_fraction"]
    base = {k: v for k, v in train_cfg.items() if k != "schedule_fraction"}
    _, full = schedule_steps(TrainConfig.from_dict(base), sizes, mixing)
    steps = max(1, round(fraction * full))
    return {**base, "max_steps": steps, "eval_every": steps}


def load_task_data(spec: dict) -> TaskData:
    """spec: {name, train, dev, dev_data, qa (options), extra: {split: [features, data]}} (paths)."""
    train_features = pd.read_parquet(spec["train"])
    labels = train_features.attrs.get("labels")
    return TaskData(
        name=spec["name"], train=train_features,
        spec=task_spec(spec["name"], spec.get("qa", {}), labels, train_features.attrs.get("lengths")),
        dev=pd.read_parquet(spec["dev"]), dev_examples=pd.read_parquet(spec["dev_data"]),
        extra_dev={split: (pd.read_parquet(f), pd.read_parquet(d)) for split, (f, d) in spec.get("extra", {}).items()},
    )


def fine_tune(tasks: list[str], init: str, train_features: list[str], dev_features: list[str],
              train_data: list[str], dev_data: list[str], qa: dict[str, dict], training: dict, seed: int | str,
              checkpoint: str, metrics: str, train_log: str, variant: dict, stage: str,
              extra_dev_features: list[str] = (), extra_dev_data: list[str] = (), calibration: list[str] = (),
              selection: list[str] = (), mixing: dict | None = None, transfer: dict | None = None,
              code: str | None = None, config: dict | None = None) -> None:
    """The step of the training rules (rules/intermediate.smk, calibration.smk, selection.smk; a target run's
    training: xlt/steps/target.py), in the rules' names: `tasks` the task names; `train_features`,
    `dev_features`, `train_data`, `dev_data` (examples) their files, in the order of `tasks` (plan.task_files);
    `extra_dev_features`, `extra_dev_data` their extra dev splits (e.g. MNLI mismatched), task by task in the
    registry's order; `qa` {task: span-QA options}; `variant` {name, block}; `calibration`, `selection`: the
    English-dev choice this run reads, if any; `transfer`: the target stage's head transfer; `config`:
    training.tensorboard is read from it (not a param: turning it on re-runs nothing). Runs fine_tune_tasks."""
    extra = iter(zip(extra_dev_features, extra_dev_data, strict=True))
    specs = [{"name": t, "train": tr, "dev": dv, "train_data": trd, "dev_data": dvd, "qa": qa[t],
              "extra": {split: list(next(extra)) for split in get_task(t).extra_dev}}
             for t, tr, dv, trd, dvd in zip(tasks, train_features, dev_features, train_data, dev_data, strict=True)]
    tensorboard = None
    if ((config or {}).get("training") or {}).get("tensorboard"):
        from xlt.train.tensorboard import event_folder

        tensorboard = str(event_folder(metrics))
    fine_tune_tasks(specs, init, training, int(seed), checkpoint, metrics, train_log, mixing=mixing or None,
                    keep_compatible_head=(transfer or {}).get("keep_compatible_head", False), variant=variant["name"],
                    variant_block=variant["block"], calibration=_one_or_none(calibration),
                    selection=_one_or_none(selection), stage=stage, code=code, tensorboard=tensorboard)


def _one_or_none(files: list[str]) -> str | None:
    """The one file of a rule's optional input ([] or [path])."""
    return files[0] if files else None


def fine_tune_tasks(tasks: list[dict], init: str, training: dict, seed: int, checkpoint: str, metrics: str,
                    train_log: str, mixing: dict | None = None, keep_compatible_head: bool = False,
                    variant: str = "standard", variant_block: dict | None = None, calibration: str | None = None,
                    stage: str = "intermediate", code: str | None = None, selection: str | None = None,
                    tensorboard: str | None = None) -> None:
    """Fine-tune `init` (a model snapshot or an earlier stage's checkpoint) on one or more tasks (`tasks`:
    {name, train, dev, dev_data, train_data, qa, extra} each, load_task_data), with the `training` block.

    The body carries over; each task gets a fresh head (Phang et al. 2020) unless `keep_compatible_head`
    and `init` holds a head of the same format and size (e.g. SQuAD -> TyDiQA). A `budget: calibrated`
    variant takes its radius from `calibration` (results/calibration/<model>/<variant>.json); training
    values that say `selected` come from `selection` (results/selection/<model>/<stage>/<task>.json); a
    `schedule_fraction` (selection runs) becomes that fraction of the real run's steps. The `metrics` file
    also records what the run cost (`resources`: tokens, step time, tokens per minute, peak GPU memory;
    xlt/train/measure.py); `train_log` holds every step's loss; `tensorboard`: a folder for the run's
    TensorBoard scalars."""
    # the run's imports in one place (a step function's imports are its code fingerprint: xlt/workflow/fingerprint.py)
    from xlt.adversarial.methods import make_strategy
    from xlt.data import provenance
    from xlt.data.chance import chance_level
    from xlt.model.attention import use_attention
    from xlt.model.modeling import (add_lora, build_model, compatible, enable_activation_checkpointing, load_heads,
                                    load_model, load_tokenizer, saved_heads)
    from xlt.train.loop import device_and_autocast
    from xlt.train.measure import reset_peak_gpu_memory, run_resources
    from xlt.workflow.selection import resolve

    data = [load_task_data(t) for t in tasks]
    train_cfg = resolve(dict(training), selection)
    sizes = {d.name: min(len(d.train), train_cfg.get("max_train_examples") or len(d.train)) for d in data}
    train_cfg = apply_fraction(train_cfg, sizes, mixing)
    set_seed(seed)
    specs = {d.name: head_spec_for(d.name, d.spec.options.get("labels")) for d in data}
    model = build_model(init, specs, seed=seed)
    reused = {}
    if keep_compatible_head:
        saved = saved_heads(init)
        for name, spec in specs.items():
            match = [name] if name in saved and compatible(saved[name], spec) else \
                sorted(t for t, s in saved.items() if compatible(s, spec))
            if match:
                reused[name] = match[0]
        load_heads(model, init, reused)
    cfg = TrainConfig.from_dict(train_cfg)
    use_attention(model.body, cfg.attention)
    if cfg.gradient_checkpointing:
        enable_activation_checkpointing(model)
    if cfg.lora:
        add_lora(model, init, **cfg.lora)
    tokenizer = load_tokenizer(init)
    block = resolve_budget(variant_block, calibration)
    reset_peak_gpu_memory()
    scalars = None
    if tensorboard:
        from xlt.train.tensorboard import Scalars

        scalars = Scalars(tensorboard)
    try:
        best = train(model, tokenizer, data, cfg, checkpoint, train_log, seed, mixing, strategy=make_strategy(block),
                     variant=variant, log_header={"stage": stage, "model": str(init), "variant_block": block},
                     on_record=scalars)
    finally:
        if scalars is not None:
            scalars.close()
    if any(d.extra_dev for d in data):  # e.g. MNLI mismatched, scored once on the selected checkpoint
        model = load_model(checkpoint, cfg.attention).to(device_and_autocast()[0])
        for d in data:
            for split, (features, examples) in d.extra_dev.items():
                prefix = get_task(d.name).extra_dev[split]
                _, scores = evaluate(model, features, examples, d.spec, tokenizer.pad_token_id,
                                     cfg.eval_batch_size, d.name)
                best[d.name].update({f"{prefix}_{k}": v for k, v in scores.items()})
    prov = provenance.after_stage(init, {
        "stage": stage, "tasks": [d.name for d in data], "variant": variant, "variant_block": block, "code": code,
        "data": {t["name"]: {s: provenance.data(t[k]) for s, k in (("train", "train_data"), ("dev", "dev_data"))
                             if t.get(k)} for t in tasks}})
    write_json(prov, Path(checkpoint) / provenance.FILE)
    # the best constant prediction's dev score per task: a run at or near it collapsed (xlt/data/chance.py)
    chance = {d.name: chance_level(d.name, d.dev_examples) for d in data}
    write_json({"seed": seed, "init": str(init), "variant": variant, "reused_heads": reused, "metrics": best,
                "training": train_cfg, "chance": chance, "provenance": prov, "resources": run_resources(train_log)},
               metrics)
