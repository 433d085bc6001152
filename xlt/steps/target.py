"""Step of rules/target.smk: a target run and its zero-shot evaluation, in one job.

Target fine-tuning trains on the target's English train/dev only; once it has finished, the selected
checkpoint is evaluated on every test language (the only non-English data, read after training). The
checkpoint — and the run's resumable states — stay in the job's node-local `scratch` folder (Snakemake's
`tmpdir` resource: TMPDIR on the node) and are deleted after the evaluation, so a target checkpoint is never
written to the shared filesystem; with study.keep_target_checkpoints it is the rule's output instead."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def scratch_folder(scratch: str, metrics_out: str) -> Path:
    """This run's folder under the node-local `scratch`: one per run (a retry on the same node resumes
    from the states its attempt saved there), never shared between users."""
    run = hashlib.sha256(str(Path(metrics_out).resolve()).encode()).hexdigest()[:16]
    return Path(scratch) / f"xlt-target-{os.getuid()}-{run}"


def train_and_evaluate(training: dict, evaluation: dict, scratch: str) -> None:
    """xlt.steps.train.fine_tune(**training), then xlt.steps.evaluate.evaluate_languages(**evaluation) on
    the checkpoint it selected. `training["checkpoint"]` None: the checkpoint lives in this run's scratch
    folder and is removed once every language is evaluated."""
    from xlt.steps.evaluate import evaluate_languages
    from xlt.steps.train import fine_tune

    local = None
    if training["checkpoint"] is None:
        local = scratch_folder(scratch, training["metrics_out"])
        training = {**training, "checkpoint": str(local / "checkpoint")}
    fine_tune(**training)
    evaluate_languages(**evaluation, checkpoint=training["checkpoint"])
    if local is not None:
        shutil.rmtree(local)
