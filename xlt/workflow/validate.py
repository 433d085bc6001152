"""Config validation: the JSON schema (xlt/workflow/schema.yaml), then what a schema cannot say —
references between sections, checked for every model's design — as one error naming every bad key."""
from __future__ import annotations

from pathlib import Path

import jsonschema

from xlt.data.tasks import get_task
from xlt.workflow import calibration, pilot, selection
from xlt.workflow.config import (AUTO_LENGTHS, ConfigError, auto_coverage, dataset_source, load_schema,
                                 study_language_groups, with_defaults)
from xlt.workflow.designs import confirmatory, own_design, views
from xlt.workflow.plan import matched_tasks


def _where(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "<top level>"


def _explain(error: jsonschema.ValidationError) -> str:
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed; allowed values: {', '.join(map(str, error.validator_value))}"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "propertyNames":
        allowed = error.validator_value.get("enum", [])
        return f"{error.instance!r} has an unknown key; allowed keys: {', '.join(map(str, allowed))}"
    if error.validator == "anyOf" and all(set(s) <= {"type", "minimum", "maximum", "const"} for s in error.validator_value):
        return f"{error.instance!r} is not allowed; give {' or '.join(map(_describe, error.validator_value))}"
    if error.validator == "anyOf" and error.context:  # say what each allowed form wanted
        return f"{error.instance!r} fits none of the allowed forms: " + "; or ".join(
            dict.fromkeys(e.message for e in error.context))
    return error.message


def _describe(schema: dict) -> str:
    """A simple alternative of an anyOf in words: `an integer >= 1`, `'auto'`."""
    if "const" in schema:
        return repr(schema["const"])
    bounds = [f"{op} {schema[k]}" for k, op in (("minimum", ">="), ("maximum", "<=")) if k in schema]
    return " ".join([f"an {schema['type']}" if schema["type"] == "integer" else f"a {schema['type']}", *bounds])


def validate_config(config: dict) -> dict:
    """Fill in the schema's defaults (in place: xlt/workflow/config.py with_defaults), then raise ConfigError
    naming every bad key and what is allowed; return the config."""
    with_defaults(config)
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [f"  - {_where(e)}: {_explain(e)}" for e in errors]
    problems += [f"  - {p}" for p in _cross_checks(config)] if not errors else []
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(problems))
    return config


def _cross_checks(config: dict) -> list[str]:
    """What a JSON schema cannot say: references between sections, checked for every model's design
    (xlt/workflow/designs.py; a problem of a model's own design names study.models.<model>)."""
    out = [f"study.models: {m!r} is not defined under models; defined: {', '.join(config['models'])}"
           for m in config["study"]["models"] if m not in config["models"]]
    for model_view in views(config):
        model = next(iter(model_view["study"]["models"]))
        own = own_design(config, model)
        found = (design_checks(model_view, lambda key: f"study.models.{model}" if key in own else "study") + calibration.cross_checks(model_view)
                 + selection.cross_checks(model_view))
        out += [p for p in found if p not in out]
    if (config.get("training") or {}).get("tensorboard"):
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            out.append("training.tensorboard: true needs the tensorboard package, which is not installed: "
                       "pip install -e '.[tensorboard]' (or set training.tensorboard: false)")
    return (out + selection.seed_checks(config) + report_cross_checks(config) + length_cross_checks(config)
            + pilot.cross_checks(config))


def length_cross_checks(config: dict) -> list[str]:
    """An `auto` length needs the share it must cover, in its own block."""
    what = {"max_answer_length": "answers", "max_query_length": "questions"}
    return [f"{AUTO_LENGTHS[key]}.auto_coverage: required when {AUTO_LENGTHS[key]}.{key} is auto — the share of "
            f"English training {what[key]} the chosen length must cover, e.g. 0.995 (docs/protocol.md)"
            for key, share in auto_coverage(config).items() if share is None]


def design_checks(config: dict, where=lambda key: "study") -> list[str]:
    """One model's design (a view): its variants have blocks, its tasks' sources are sound, its mix has
    two tasks, its targets' languages exist, its waves partition its seeds. `where(key)`: the block that
    declares a design key (study, or study.models.<model>), for the messages."""
    out = []
    study = config["study"]
    for v in study["variants"]:
        if v not in config["variants"]:
            out.append(f"{where('variants')}.variants: {v!r} has no block under variants; defined: {', '.join(config['variants'])}")
    for task in dict.fromkeys([*study["intermediate"], *study.get("multitask_tasks", []), *study["targets"]]):
        source = dataset_source(config, task)
        repos = get_task(task).repos
        if (config.get("datasets", {}).get(task, {}).get("hub") or {}).get("revision") and len(repos) > 1:
            out.append(f"datasets.{task}.hub.revision: {task} is read from {len(repos)} repositories "
                       f"({', '.join(repos)}); one revision cannot be a commit of all of them — use "
                       f"hub.revisions: {{<repository>: <commit>}} (or the top-level hub_revisions)")
        if get_task(task).local_only and "hub" in source:
            out.append(f"datasets.{task}: {get_task(task).local_only}")
        if "local" in source:
            out += local_raw_key_problems(task, source["local"].get("files") or {})
        for key, paths in source.get("local", {}).get("files", {}).items():
            for path in [paths] if isinstance(paths, str) else paths:
                if not Path(path).exists():
                    hint = f" ({get_task(task).local_only})" if get_task(task).local_only else ""
                    out.append(f"datasets.{task}.local.files.{key}: {path} does not exist{hint}")
    mix = study.get("multitask_tasks") or study["intermediate"]
    if study.get("multitask") and len(mix) < 2:
        out.append(f"{where('multitask')}.multitask: the mix needs at least two tasks "
                   f"({where('multitask_tasks')}.multitask_tasks or {where('intermediate')}.intermediate)")
    for target, langs in study["targets"].items():
        known = get_task(target).languages
        for lang in langs:
            if lang not in known:
                out.append(f"study.targets.{target}: language {lang!r} is not in {target}; "
                           f"allowed values: {', '.join(known)}")
        if "en" not in langs:
            out.append(f"study.targets.{target}: must include 'en' (the cross-lingual gap is measured against it)")
    return out + wave_cross_checks(study, where("waves"))


def wave_cross_checks(study: dict, where: str = "study") -> list[str]:
    """study.waves partitions study.seeds (the maximum design) into consecutive, increasing waves."""
    waves = study.get("waves")
    if not waves:
        return []
    flat = [seed for wave in waves for seed in wave]
    out = []
    if len(set(flat)) < len(flat):
        repeated = sorted({seed for seed in flat if flat.count(seed) > 1})
        out.append(f"{where}.waves: waves overlap (seed{'s' * (len(repeated) > 1)} {', '.join(map(str, repeated))} "
                   "in more than one wave); each seed belongs to exactly one wave")
    elif flat != sorted(flat):
        out.append(f"{where}.waves: waves go backwards ({waves}); list each wave's seeds in increasing order and "
                   "every wave after the seeds of the one before, e.g. [[1, 2, 3], [4, 5, 6]]")
    if sorted(set(flat)) != sorted(study["seeds"]):
        out.append(f"{where}.waves: the waves' seeds {sorted(set(flat))} are not {where}.seeds {sorted(study['seeds'])}; "
                   f"{where}.seeds is the maximum design, so set it to the union of the waves")
    return out


def report_cross_checks(config: dict) -> list[str]:
    """report.primary_target is a study target; every report.endpoints entry is a column the statistics
    make: avg-xx, or avg:<group> of the study models' language groups."""
    report, out = config.get("report", {}), []
    primary = report.get("primary_target")
    if primary is not None and primary not in config["study"]["targets"]:
        out.append(f"report.primary_target: {primary!r} is not a study target; allowed values: "
                   f"{', '.join(config['study']['targets'])} (or leave it out: both targets, Holm across them)")
    if any(m not in config["models"] for m in config["study"]["models"]):
        return out  # reported above; the groups cannot be looked up
    for model_view in views(config):
        model = next(iter(model_view["study"]["models"]))
        own = "confirmatory" in own_design(config, model)
        if "format_matched" not in confirmatory(config, model):
            continue
        for target in model_view["study"]["targets"]:
            if not matched_tasks(target, model_view["study"]["intermediate"]):
                key = f"study.models.{model}.confirmatory" if own else "report.confirmatory"
                out.append(f"{key}: format_matched has no intermediate task of {target}'s format "
                           f"({get_task(target).format}) in "
                           f"{model}'s design: add one to its intermediate tasks or drop format_matched")
    groups = (study_language_groups(config) or {}).get("groups", {})
    known = ["avg-xx", *(f"avg:{g}" for g in groups)]
    for endpoint in report.get("endpoints", []):
        if endpoint not in known:
            out.append(f"report.endpoints: {endpoint!r} is not a column the statistics make; allowed values: "
                       f"{', '.join(known)} (groups come from report.language_groups of the models' family)")
    return out


def local_raw_key_problems(name: str, files: dict) -> list[str]:
    """A local source names a file for every raw key the task's splits are built from (MNLI's dev_mismatched
    needs validation_mismatched): caught when the DAG is built, not when a job reads the split. Keys the
    task does not have are typos of one that it does."""
    task = get_task(name)
    raw_keys = list(dict.fromkeys(k for keys in task.parts.values() for k in keys))
    listed = f"{name}'s raw keys: {', '.join(raw_keys)} (README: raw keys per task)"
    out = []
    for key in raw_keys:
        if key not in files:
            splits = [split for split, keys in task.parts.items() if key in keys]
            out.append(f"datasets.{name}.local.files: no raw key {key!r} (needed for split {', '.join(splits)}); "
                       f"{listed}")
    out += [f"datasets.{name}.local.files: {key!r} is not a raw key of {name}; {listed}"
            for key in files if key not in raw_keys]
    return out
