"""Step of rules/target.smk: a target run and its zero-shot evaluation, in one job.

Target fine-tuning trains on the target's English train/dev only; once it has finished, the selected
checkpoint is evaluated on every test language (the only non-English data, read after training). The
checkpoint — and the run's resumable states — stay in the job's node-local `tmpdir` folder (Snakemake's
`tmpdir` resource: TMPDIR on the node) and are deleted after the evaluation, so a target checkpoint is never
written to the shared filesystem; with study.keep_target_checkpoints it is the rule's output instead."""
from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from pathlib import Path


def scratch_folder(tmpdir: str, metrics: str) -> Path:
    """This run's folder under the node-local `tmpdir`: one per run (a retry on the same node resumes
    from the states its attempt saved there), never shared between users."""
    run = hashlib.sha256(str(Path(metrics).resolve()).encode()).hexdigest()[:16]
    return Path(tmpdir) / f"xlt-target-{os.getuid()}-{run}"


def train_and_evaluate(tasks: list[str], qa: dict[str, dict], test_features: str, test_data: str,
                       predictions: list[str], eval_metrics: list[str], languages: list[str], run: dict,
                       preregistration: str, seed: int | str, tmpdir: str,
                       config: dict, code: str | None = None, checkpoint: str | None = None, **training) -> None:
    """The step of rules/target.smk's train_target_<target>: xlt.steps.train.fine_tune with the rule's training
    names (`training`: the rest of its inputs, outputs and params; the `training` block's eval_batch_size and
    attention are the evaluation's), then xlt.steps.evaluate.evaluate_languages on the checkpoint it selected — `predictions` and `eval_metrics` per language of `languages`; `run`: the
    run's keys, recorded with its metrics. `checkpoint` None (no study.keep_target_checkpoints): the checkpoint
    lives in this run's folder under `tmpdir` and is removed once every language is evaluated.

    Before the first result exists, the confirmatory declaration is written to `preregistration` from the
    config itself (not from params: amending it later must not rewrite the file). Imported by name, so the
    declaration code is not part of this step's code fingerprint — it changes no prediction, and editing it
    must not re-run any job."""
    from xlt.steps.evaluate import evaluate_languages
    from xlt.steps.train import fine_tune

    importlib.import_module("xlt.analysis.preregistration").ensure(config, preregistration)
    local = None
    if checkpoint is None:
        local = scratch_folder(tmpdir, training["metrics"])
        checkpoint = str(local / "checkpoint")
    fine_tune(tasks=tasks, qa=qa, seed=seed, checkpoint=checkpoint, code=code, config=config, **training)
    (target,) = tasks
    evaluate_languages(task_name=target, checkpoint=checkpoint, test_features=test_features, test_data=test_data,
                       run=run, qa_options=qa[target], batch_size=training["training"]["eval_batch_size"],
                       attention=training["training"]["attention"], code=code,
                       outputs={lang: [pred, scores] for lang, pred, scores in
                                zip(languages, predictions, eval_metrics, strict=True)})
    if local is not None:
        shutil.rmtree(local)
