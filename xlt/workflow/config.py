"""The config: its schema (schema.yaml, which also holds every default: `with_defaults`, `schema_defaults`)
and the config slices each rule depends on. Validation (schema and cross-checks) is xlt/workflow/validate.py."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

from xlt.workflow.designs import training_layers
from xlt.data.tasks import get_task

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.yaml"


class ConfigError(ValueError):
    pass


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


@lru_cache(maxsize=1)
def _schema() -> dict:
    return load_schema()


def schema_defaults(*path: str) -> dict:
    """{key: default} of the schema object at `path` (e.g. "report"): the one place defaults live."""
    node = _schema()
    for key in path:
        node = node["properties"][key]
    return {k: copy.deepcopy(v["default"]) for k, v in node.get("properties", {}).items() if "default" in v}


def with_defaults(config: dict, schema: dict | None = None) -> dict:
    """`config` with the schema's `default:` filled in where a key is absent (in place; blocks with a
    default of their own are created, then filled): what every rule and step then reads."""
    schema = _schema() if schema is None else schema
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:  # "#/$defs/<name>": training.defaults is a train_block
            sub = {**_schema()["$defs"][sub["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in sub.items() if k != "$ref"}}
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and "properties" in sub:
            with_defaults(config[key], sub)
    return config


# ---- config slices (rule params hold exactly these, so an edit re-runs only what depends on it) ----
# Slices are returned with sorted keys: Snakemake compares params by value *and* order, and
# reordering keys in a YAML file must not re-run anything.

def canonical(value):
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def training_config(config: dict, stage: str, task: str, model: str | None = None) -> dict:
    """Defaults overlaid with the per-task block of one stage ('intermediate' or 'target'), then the model's
    own training overrides (xlt/workflow/designs.py; `model` may be left out in a one-model config or view)."""
    out = {}
    for layer in training_layers(config, stage, task, model):
        out.update(layer)
    return canonical(out)


def dataset_source(config: dict, task: str) -> dict:
    """The task's source; a Hub source carries the pinned commit of each of the task's repositories
    (hub_revisions, overridden per task by datasets.<task>.hub.revisions), so a new pin re-runs exactly
    the datasets that read that repository."""
    source = config.get("datasets", {}).get(task, {"hub": {}})
    if "hub" not in source:
        return canonical(source)
    hub = dict(source["hub"] or {})
    pins = config.get("hub_revisions") or {}
    revisions = {repo: pins[repo] for repo in get_task(task).repos if repo in pins}
    revisions.update(hub.pop("revisions", None) or {})
    if revisions:
        hub["revisions"] = revisions
    return canonical({"hub": hub})


def model_revision(config: dict, name: str) -> str | None:
    """models.<name>.revision, else the pin of its repository in hub_revisions."""
    spec = config["models"][name]
    return spec.get("revision") or (config.get("hub_revisions") or {}).get(spec.get("hub"))


def feature_config(config: dict, task: str) -> dict:
    f = config["features"]
    keys = ["doc_stride", "max_length", "max_query_length"] if get_task(task).format == "span_qa" else ["max_length"]
    return {k: f[k] for k in keys}


def qa_options(config: dict, task: str) -> dict:
    """The span-QA options of a task's training and evaluation (no `auto_coverage`: the measured lengths
    reach them through the task's features)."""
    if get_task(task).format != "span_qa":
        return {}
    return canonical({k: v for k, v in config["qa"].items() if k != "auto_coverage"})


AUTO_LENGTHS = {"max_query_length": "features", "max_answer_length": "qa"}  # key -> its block, beside its auto_coverage


def auto_coverage(config: dict) -> dict[str, float | None]:
    """{length key: the share its `auto` length covers (<block>.auto_coverage)} for the keys that say `auto`
    (xlt/model/lengths.py: features.max_query_length, qa.max_answer_length)."""
    return {key: config[block].get("auto_coverage") for key, block in AUTO_LENGTHS.items()
            if config[block].get(key) == "auto"}


def needs_lengths(config: dict, task: str) -> bool:
    """Whether featurising `task` reads its measured lengths (results/lengths/{model}/{task}.json)."""
    return get_task(task).format == "span_qa" and bool(auto_coverage(config))


def mixing_config(config: dict) -> dict:
    """Multi-task sampling: p(task) ~ min(size, cap) ** (1 / temperature)."""
    return canonical(config.get("multitask") or _schema()["properties"]["multitask"]["default"])


def variant_block(config: dict, variant: str) -> dict:
    return canonical(config["variants"][variant])


def transfer_config(config: dict) -> dict:
    return canonical(config.get("transfer") or _schema()["properties"]["transfer"]["default"])


def report_config(config: dict) -> dict:
    """The statistics settings (alpha, power, effect of interest, confirmatory families, equivalence
    margin, primary target, endpoints, seed pairing, the rule for collapsed runs, the alpha spending of
    study.waves' looks)."""
    block = config.get("report", {})
    return canonical({k: block.get(k, v) for k, v in schema_defaults("report").items()})


def report_settings(config: dict) -> dict:
    """The whole report block over the schema's defaults (assumed_run_sd and language_groups included):
    what the plan and the power model read, from a validated config or a library caller's raw one."""
    return {**schema_defaults("report"), **(config.get("report") or {})}


def language_groups(config: dict) -> dict[str, dict[str, list[str]]]:
    """{model: {group: [languages]}} from report.language_groups[<the model's family>]."""
    declared = config.get("report", {}).get("language_groups", {})
    out = {}
    for name in config["study"]["models"]:
        family = config["models"][name].get("family")
        if family in declared:
            out[name] = canonical(declared[family]["groups"])
    return out


def study_language_groups(config: dict) -> dict | None:
    """The language-group block ({source, groups}) of the study models' family, for the summary."""
    declared = config.get("report", {}).get("language_groups", {})
    families = [config["models"][m].get("family") for m in config["study"]["models"]]
    return canonical(declared[families[0]]) if families and families[0] in declared else None
