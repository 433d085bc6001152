"""What a training job's workflow script hands its step (xlt.steps.train.fine_tune): the job's inputs,
outputs, wildcards and params, read off the `snakemake` object the script gets. One place for the
intermediate, multi-task, calibration, selection and target rules alike."""
from __future__ import annotations


def _one_or_none(files) -> str | None:
    files = [files] if isinstance(files, str) else list(files or [])
    return files[0] if files else None


def fine_tune_args(smk, stage: str, checkpoint: str | None) -> dict:
    """fine_tune's keyword arguments for the job `smk` of `stage`; `checkpoint` is where the selected
    checkpoint goes (the rule's output, or a node-local folder: xlt/steps/target.py)."""
    from xlt.train.tensorboard import event_folder
    from xlt.workflow import plan

    w, p = smk.wildcards, smk.params
    # training.tensorboard is read from the config, not a param: turning it on re-runs nothing
    tensorboard = str(event_folder(smk.output.metrics)) if (smk.config.get("training") or {}).get("tensorboard") else None
    return {"tasks": [{**plan.task_inputs(w.model, t), "qa": dict(p.qa[t])} for t in p.tasks],
            "init": smk.input.init, "train_cfg": dict(p.training), "seed": int(p.get("seed", w.get("seed"))),
            "checkpoint": checkpoint, "metrics_out": smk.output.metrics, "log": smk.output.train_log,
            "mixing": dict(p.mixing) if p.get("mixing") else None,
            "keep_compatible_head": p.get("transfer", {}).get("keep_compatible_head", False),
            "variant": p.variant["name"], "variant_block": p.variant["block"],
            "calibration": _one_or_none(smk.input.get("calibration")),
            "selection": _one_or_none(smk.input.get("selection")), "stage": stage, "code": p.code,
            "tensorboard": tensorboard}
