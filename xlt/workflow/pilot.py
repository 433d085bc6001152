"""A pilot (config/pilot.yaml): the study's own rules on a small cut, ending with a report of what its jobs
measured and English-dev learning checks. This module is the config side: the `pilot:` block's checks and
their validation, and the training jobs whose records the report reads (xlt/analysis/pilot.py builds it).

    pilot:
      checks:                          # after target training, on every target run's English dev split
        paws_x: {metric: accuracy, min: 0.65}    # accuracy is a fraction (0-1)
        tydiqa: {metric: f1, min: 25}            # exact_match and f1 are points (0-100)
"""
from __future__ import annotations

from xlt.data.tasks import get_task
from xlt.workflow import jobs, plan

# The dev metrics each target format scores (xlt/model/formats/*: score()) and their range, as
# dev_metrics.json stores them (tests/test_pilot.py checks them against a run's records).
METRICS = {"classification": {"accuracy": (0.0, 1.0)},
           "span_qa": {"exact_match": (0.0, 100.0), "f1": (0.0, 100.0)}}


def checks(config: dict) -> dict[str, dict]:
    """{target: {metric, min}} declared under pilot.checks ({} without a pilot block)."""
    return {t: dict(c) for t, c in ((config.get("pilot") or {}).get("checks") or {}).items()}


def cross_checks(config: dict) -> list[str]:
    """Each check names a study target, a metric that target scores, and a threshold inside its range; a
    pilot trains all its seeds at once (no waves: its report waits for every run)."""
    from xlt.workflow.designs import model_names, view

    if not checks(config):
        return []
    out = [f"pilot: {m} trains its seeds in {len(plan.waves(view(config, m)))} waves (study.waves or "
           f"study.models.{m}.waves); a pilot trains all its seeds at once: remove the waves"
           for m in model_names(config) if len(plan.waves(view(config, m))) > 1]
    for target, check in checks(config).items():
        where = f"pilot.checks.{target}"
        if target not in config["study"]["targets"]:
            out.append(f"{where}: {target!r} is not a study target; allowed values: {', '.join(config['study']['targets'])}")
            continue
        scored = METRICS.get(get_task(target).format, {})
        if check["metric"] not in scored:
            out.append(f"{where}.metric: {target} does not score {check['metric']!r}; allowed values: {', '.join(scored)}")
            continue
        low, high = scored[check["metric"]]
        if not low <= check["min"] <= high:
            hint = " (accuracy is a fraction: 0.65 means 65%)" if high == 1.0 and check["min"] <= 100 else ""
            out.append(f"{where}.min: {check['min']} is outside the range of {check['metric']}, [{low:g}, {high:g}]{hint}")
    return out


def training_jobs(config: dict) -> list[dict]:
    """Every training job of the pilot, with the files the report reads (xlt.workflow.jobs)."""
    return [{k: job[k] for k in ("rule", "model", "stage", "variant", "tasks", "run", "metrics", "benchmark", "target")
             if k in job} for job in jobs.training_jobs(config)]


def identity(config: dict) -> dict:
    """What the measured throughput depends on, per study model: where its weights come from, its own
    training overrides, and the study's features and training defaults (`--pilot` refuses a report whose
    identity differs from the config it re-prices). `config` as the DAG reads it: validated, defaults filled."""
    from xlt.workflow.designs import model_names, own_design

    speed = ("attention", "compile", "gradient_checkpointing", "lora", "batch_size", "grad_accum", "save_dtype")
    models = {}
    for m in model_names(config):
        spec = config["models"][m]
        source = {k: spec[k] for k in ("hub", "local", "demo") if k in spec}
        own = (own_design(config, m).get("training") or {}).get("defaults") or {}
        models[m] = {"source": source, "training": {k: own[k] for k in speed if k in own}}
    defaults = config["training"]["defaults"]
    return {"models": models, "max_length": config["features"]["max_length"],
            "training": {k: defaults[k] for k in speed if k in defaults}}


def report_inputs(config: dict) -> list[str]:
    """The files the report waits for: every training job's dev metrics and every evaluation's metrics."""
    return [j["metrics"] for j in training_jobs(config)] + plan.eval_metric_files(config)
