"""Per-model study designs: `study.models` is a list of model names (every model runs the study's design)
or a mapping name -> its own design, e.g.

    study:
      models:
        bloom-560m: {}                                  # the study's design
        bloom-1b7: {intermediate: [mnli, squad], multitask: false, variants: [standard, freelb],
                    seeds: [1, 2, 3, 4, 5, 6], training: {defaults: {gradient_checkpointing: true}}}

A model's design overlays the study block key by key (DESIGN_KEYS). Keys declared relative to another
one are not inherited when that one is overridden: a model with its own `seeds` does not take the
study's `waves` or `baseline_seeds`, one with its own `intermediate` does not take `multitask_tasks`; a
model with `waves` and no `seeds` has the waves' union as its seeds. Its `training` block
({defaults, intermediate: {<task>: ...}, target: {<task>: ...}}) is layered over the study's:
training.defaults < training.<stage>.<task> < the model's defaults < the model's <stage>.<task>.

`view(config, model)` is the config as one model's jobs see it: the study block with the model's design
and `study.models` = {model: design}; every function that enumerates one design's runs takes a view.
Calibration, selection, targets, the report's declarations and the cluster are the study's for every
model. The statistics keep each model's confirmatory families apart (Holm within family and model)."""
from __future__ import annotations

DESIGN_KEYS = ("intermediate", "multitask", "multitask_tasks", "baseline", "variants", "adversarial_target",
               "seeds", "baseline_seeds", "waves", "confirmatory", "training")
DEFAULT_FAMILIES = ["adversarial_vs_standard", "task_vs_baseline"]
# key -> the study keys declared relative to it, not inherited by a model that overrides it
RELATIVE = {"seeds": ("waves", "baseline_seeds"), "intermediate": ("multitask_tasks",)}
TRAINING_STAGES = ("intermediate", "target")


def model_names(config: dict) -> list[str]:
    return list(config["study"]["models"])


def own_design(config: dict, model: str) -> dict:
    """The keys `model`'s entry in study.models declares ({} for a list entry or an empty design)."""
    models = config["study"]["models"]
    return dict((models.get(model) or {}) if isinstance(models, dict) else {})


def view(config: dict, model: str) -> dict:
    """The config with the study block as `model` runs it (idempotent: a view's view is itself)."""
    own = own_design(config, model)
    study = dict(config["study"])
    for key, dependants in RELATIVE.items():
        if key in own:
            for dep in dependants:
                study.pop(dep, None)
    study.update({k: v for k, v in own.items() if k not in ("training", "confirmatory")})
    if "waves" in own and "seeds" not in own:
        study["seeds"] = sorted({seed for wave in own["waves"] for seed in wave})
    study["models"] = {model: own}
    return {**config, "study": study}


def confirmatory(config: dict, model: str) -> list[str]:
    """`model`'s confirmatory families: its design's `confirmatory`, else report.confirmatory (else both
    default families). Its waves stop once these are decided."""
    own = own_design(config, model).get("confirmatory")
    return list(own if own is not None else (config.get("report") or {}).get("confirmatory", DEFAULT_FAMILIES))


def views(config: dict) -> list[dict]:
    """One view per study model, in study.models order."""
    return [view(config, m) for m in model_names(config)]


def single(config: dict, what: str) -> dict:
    """The config itself when it has one model (a view, or a one-model study), else an error: `what` is
    a question about one model's design."""
    names = model_names(config)
    if len(names) != 1:
        raise ValueError(f"{what} is a property of one model's design; the study has models {', '.join(names)}: "
                         "ask it of xlt.workflow.designs.view(config, <model>)")
    return view(config, names[0])


def training_layers(config: dict, stage: str, task: str, model: str | None) -> list[dict]:
    """The training blocks a (stage, task) job of `model` reads, lowest precedence first; `model` None in a
    one-model config (a view) means that model."""
    training = config["training"]
    layers = [training["defaults"], training.get(stage, {}).get(task, {})]
    if model is None:
        names = model_names(config)
        if len(names) > 1 and any(own_design(config, m).get("training") for m in names):
            raise ValueError(f"training of {stage}/{task}: models {', '.join(names)} differ in training; name the model")
        model = names[0] if len(names) == 1 else None
    if model is not None:
        own = own_design(config, model).get("training") or {}
        layers += [own.get("defaults") or {}, (own.get(stage) or {}).get(task) or {}]
    return layers
