import copy
import inspect
from pathlib import Path

import pytest
import yaml

from xlt.workflow.config import ConfigError, load_schema, training_config
from xlt.workflow.validate import validate_config
from xlt.data.tasks import REGISTRY, intermediate_tasks, target_tasks

ROOT = Path(__file__).resolve().parents[1]
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())


@pytest.mark.parametrize("config", [STUDY, DEMO], ids=["study", "demo"])
def test_shipped_configs_are_valid(config, study_workdir):
    validate_config(config)


def test_missing_ccgbank_names_the_fix_and_one_change_runs_the_rest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ccgbank here
    with pytest.raises(ConfigError) as err:
        validate_config(STUDY)
    assert "datasets.ccg.local.files.train: data/ccgbank/train.tsv does not exist" in str(err.value)
    assert "CCGbank is licensed (LDC2005T13)" in str(err.value) and "remove ccg from study.intermediate" in str(err.value)
    without = copy.deepcopy(STUDY)
    without["study"]["intermediate"].remove("ccg")  # the documented one change
    validate_config(without)
    hub = copy.deepcopy(without)
    hub["study"]["intermediate"].append("ccg")
    del hub["datasets"]["ccg"]
    with pytest.raises(ConfigError, match=r"datasets.ccg: CCGbank is licensed"):
        validate_config(hub)


def test_study_config_is_the_real_study():
    assert STUDY["models"]["bloom-560m"]["hub"] == "bigscience/bloom-560m"
    assert STUDY["models"]["bloom-560m"]["family"] == "bloom"  # selects its language groups
    assert list(STUDY["study"]["models"]) == ["bloom-560m", "bloom-1b7"]  # the full design, and a reduced one
    assert STUDY["study"]["models"]["bloom-560m"] == {}
    assert STUDY["models"]["bloom-1b7"]["hub"] == "bigscience/bloom-1b7"
    assert set(STUDY["study"]["intermediate"]) == set(intermediate_tasks())  # all nine
    assert len(intermediate_tasks()) == 9 and STUDY["study"]["multitask"] and STUDY["study"]["baseline"]
    assert STUDY["study"]["targets"]["paws_x"] == ["en", "de", "es", "fr", "ja", "ko", "zh"]
    assert STUDY["study"]["targets"]["tydiqa"] == ["en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"]
    # the statistics are declared before results exist
    assert STUDY["report"]["confirmatory"] == ["adversarial_vs_standard", "task_vs_baseline"]
    groups = STUDY["report"]["language_groups"]["bloom"]["groups"]
    targets = set(STUDY["study"]["targets"]["paws_x"] + STUDY["study"]["targets"]["tydiqa"]) - {"en"}
    assert set(groups["in_pretraining"]) | set(groups["not_in_pretraining"]) == targets
    assert not set(groups["in_pretraining"]) & set(groups["not_in_pretraining"])


def test_schema_enums_match_the_task_registry():
    defs = load_schema()["$defs"]
    assert sorted(defs["intermediate_task"]["enum"]) == sorted(intermediate_tasks())
    assert sorted(defs["target_task"]["enum"]) == sorted(target_tasks())
    assert set(defs["task"]["enum"]) == set(REGISTRY)
    langs = load_schema()["properties"]["study"]["properties"]["targets"]["additionalProperties"]["items"]["enum"]
    assert set(langs) == {lang for t in target_tasks() for lang in REGISTRY[t].languages}


def _set(cfg, path, value):
    *parents, last = path
    for p in parents:
        cfg = cfg[p]
    if value is _DELETE:
        del cfg[last]
    else:
        cfg[last] = value


_DELETE = object()

# (path, bad value, fragments the error must contain: the key and what is allowed/expected)
BAD = [
    (["study", "intermediate"], ["mnli", "imdb"], ["study.intermediate[1]", "'imdb' is not allowed", "anli_plus, mnli"]),
    (["study", "variants"], ["standard", "vat"], ["study.variants: 'vat' has no block under variants", "freelb"]),
    (["variants", "fgm"], {"method": "fgm", "eps": 1.0}, ["variants.fgm", "'eps' was unexpected", "epsilon"]),
    (["variants", "vat"], {"method": "vat"}, ["variants.vat.method", "'vat' is not allowed", "fgm, pgd, freelb, smart, r3f"]),
    (["variants", "pgd", "norm"], "l1", ["variants.pgd.norm", "'l1'", "l2, linf"]),
    (["variants", "smart", "dropout"], "fresh", ["variants.smart.dropout", "'fresh'", "shared, independent"]),
    (["variants", "smart", "ascent_objective"], "js", ["variants.smart.ascent_objective", "'js'", "symmetric, kl"]),
    (["variants", "r3f", "detach_noise_embeddings"], "yes", ["variants.r3f.detach_noise_embeddings", "boolean"]),
    (["study", "targets", "paws_x"], ["en", "xx"], ["study.targets.paws_x[1]", "'xx'", "allowed values"]),
    (["study", "targets", "paws_x"], ["en", "ar"], ["study.targets.paws_x", "'ar'", "allowed values: en, de, es"]),
    (["study", "targets", "xnli"], ["en"], ["study.targets", "'xnli'", "paws_x, tydiqa"]),
    (["study", "seeds"], "1", ["study.seeds", "'1' is not of type 'array'"]),
    (["study", "seeds"], _DELETE, ["study", "'seeds' is a required property"]),
    (["features", "max_length"], "long", ["features.max_length", "'long' is not of type 'integer'"]),
    (["training", "defaults", "learning_rate"], -1, ["training.defaults.learning_rate", "-1"]),
    (["training", "defaults", "lr"], 0.1, ["training.defaults", "'lr' was unexpected", "allowed keys", "learning_rate"]),
    (["training", "intermediate", "hellaswag_x"], {"epochs": 1}, ["training.intermediate", "'hellaswag_x'"]),
    (["multitask", "temperature"], 0, ["multitask.temperature", "0"]),
    (["study", "models"], ["bloom-7b1"], ["study.models", "'bloom-7b1' is not defined under models", "bloom-560m"]),
    (["models", "bloom-560m"], {"hub": "no-slash"}, ["models.bloom-560m"]),
    (["datasets"], {"tydiqa": {"local": {"format": "xml", "files": {}}}}, ["datasets.tydiqa.local.format", "'xml'", "squad_json"]),
    (["study", "targets", "tydiqa"], ["ar", "sw"], ["study.targets.tydiqa: must include 'en'"]),
    (["qa"], _DELETE, ["'qa' is a required property"]),
    # lengths measured on English train (xlt/model/lengths.py)
    (["qa", "max_answer_length"], "long", ["qa.max_answer_length", "'long' is not allowed", "an integer >= 1 or 'auto'"]),
    (["features", "max_query_length"], 0, ["features.max_query_length", "0 is not allowed", "an integer >= 1 or 'auto'"]),
    (["qa", "auto_coverage"], 1.5, ["qa.auto_coverage", "1.5 is greater than the maximum of 1"]),
    (["features", "auto_coverage"], 0, ["features.auto_coverage", "0 is less than or equal to the minimum of 0"]),
    (["qa", "auto_coverage"], _DELETE, ["qa.auto_coverage: required when qa.max_answer_length is auto",
                                        "English training answers"]),
    (["features", "auto_coverage"], _DELETE, ["features.auto_coverage: required when features.max_query_length is auto",
                                              "English training questions"]),
    (["study", "baseline"], "yes", ["study.baseline", "'yes' is not of type 'boolean'"]),
    # the English-dev selection stages (xlt/workflow/calibration.py, xlt/workflow/selection.py)
    (["study", "calibration", "seeds"], 0, ["study.calibration.seeds", "0 is less than the minimum of 1"]),
    (["study", "calibration", "seeds"], [1, 2, 3], ["study.calibration.seeds: [1, 2, 3] are also study seeds",
                                                    "[101, 102, 103]"]),
    (["study", "selection", "seeds"], [14, 15, 16], ["study.selection.seeds: [14, 15, 16] are also study seeds"]),
    (["study", "calibration", "fallback"], {"freelb": 0}, ["study.calibration.fallback.freelb: 0",
                                                           "must be > 0"]),
    (["study", "calibration", "rule"], "gated", ["study.calibration.fallback: the gated rule needs a fallback "
                                                 "radius for variant 'fgm'"]),
    (["study", "calibration", "rule"], "best", ["study.calibration.rule", "'best' is not allowed", "best_nonzero"]),
    (["study", "calibration", "grid", "fgm"], [0], ["study.calibration.grid.fgm: no radius > 0 to choose"]),
    (["study", "calibration", "seeds"], 1, ["study.calibration.seeds", "control needs a standard error", ">= 2"]),
    (["study", "calibration", "grid", "fgm"], [0.03, 0.1], ["study.calibration.grid.fgm", "add radius 0",
                                                              "control: false"]),
    (["study", "calibration", "grid", "smart"], [0, -1e-3], ["study.calibration.grid.smart[1]", "-0.001"]),
    (["study", "calibration", "steps"], 100, ["study.calibration: give exactly one horizon", "fraction"]),
    (["study", "calibration", "fraction"], 1.5, ["study.calibration.fraction", "1.5"]),
    (["study", "calibration", "control"], "yes", ["study.calibration.control", "'yes' is not of type 'boolean'"]),
    (["study", "calibration", "seed"], 1, ["study.calibration", "'seed' was unexpected", "seeds"]),
    (["study", "selection", "seeds"], 0, ["study.selection.seeds", "0 is less than the minimum of 1"]),
    (["study", "selection", "target"], _DELETE, ["training.defaults: learning_rate: selected needs "
                                                  "study.selection.target"]),
    (["study", "selection", "intermediate", "grid"], {"batch_size": [16, 32]},
     ["study.selection.intermediate.grid: no values for learning_rate", "training.defaults says selected"]),
    (["study", "selection", "intermediate", "grid"], {"lr": [1e-5]},
     ["study.selection.intermediate.grid", "'lr' is not allowed", "learning_rate"]),
    (["training", "defaults", "learning_rate"], "chosen", ["training.defaults.learning_rate", "'chosen'"]),
    (["report", "collapsed_runs"], "ignore", ["report.collapsed_runs", "'ignore' is not allowed", "keep, drop"]),
    # what the plan reads (python -m xlt.analysis.planning)
    (["study", "budget_gpu_hours"], 0, ["study.budget_gpu_hours", "0 is less than or equal to the minimum of 0"]),
    (["study", "budget_gpu_hours"], -100, ["study.budget_gpu_hours", "-100"]),
    (["study", "budget_gpu_hours"], "600h", ["study.budget_gpu_hours", "'600h' is not of type 'number'"]),
    (["report", "assumed_run_sd"], {"xnli": 2.0}, ["report.assumed_run_sd", "'xnli' is not allowed", "paws_x, tydiqa"]),
    (["report", "assumed_run_sd", "tydiqa"], 0, ["report.assumed_run_sd.tydiqa", "0 is less than or equal"]),
]


def test_a_format_matched_family_needs_a_task_of_each_targets_format(study_workdir):
    cfg = copy.deepcopy(STUDY)
    cfg["report"]["confirmatory"] = ["adversarial_vs_standard", "format_matched"]
    validate_config(cfg)  # bloom-560m: MNLI/QQP/ANLI+ for PAWS-X, SQuAD/SQuAD 2.0 for TyDiQA
    cfg["study"]["intermediate"] = ["mnli", "hellaswag"]
    with pytest.raises(ConfigError, match=r"report.confirmatory: format_matched has no intermediate task of "
                                          r"tydiqa's format \(span_qa\) in bloom-560m's design"):
        validate_config(cfg)
    cfg = copy.deepcopy(STUDY)
    cfg["study"]["models"]["bloom-1b7"]["confirmatory"] = ["format_matched"]
    cfg["study"]["models"]["bloom-1b7"]["intermediate"] = ["squad", "commonsense_qa"]
    with pytest.raises(ConfigError, match=r"study.models.bloom-1b7.confirmatory: format_matched has no intermediate "
                                          r"task of paws_x's format"):
        validate_config(cfg)


@pytest.mark.parametrize("path,value,fragments", BAD, ids=[".".join(map(str, b[0])) + (" deleted" if b[1] is _DELETE else f"={b[1]!r}"[:40]) for b in BAD])
def test_bad_config_fails_naming_the_key(path, value, fragments, study_workdir):
    cfg = copy.deepcopy(STUDY)
    _set(cfg, path, value)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    for fragment in fragments:
        assert fragment in str(err.value), f"{fragment!r} not in:\n{err.value}"


def test_training_config_overlays_task_block_on_defaults():
    block = training_config(STUDY, "target", "tydiqa", "bloom-560m")
    assert block["epochs"] == STUDY["training"]["target"]["tydiqa"]["epochs"]
    assert block["learning_rate"] == STUDY["training"]["defaults"]["learning_rate"]
    # bloom-1b7's own training layer (bf16 checkpoints) on top; the models differ, so the model is named
    assert training_config(STUDY, "target", "tydiqa", "bloom-1b7") == {**block, "save_dtype": "bfloat16"}


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(equivalence_margin=0), r"report\.equivalence_margin: .*0"),
    (lambda r: r.update(equivalence_margin=-1.0), r"report\.equivalence_margin"),
    (lambda r: r.update(primary_target="xnli"), r"report\.primary_target: 'xnli' is not a study target; allowed values: paws_x, tydiqa"),
    (lambda r: r.update(endpoints=["avg:unknown_group"]), r"report\.endpoints: 'avg:unknown_group' is not a column .* avg-xx, avg:in_pretraining"),
    (lambda r: r.update(endpoints=["de"]), r"report\.endpoints"),
], ids=["margin-zero", "margin-negative", "primary-target", "endpoint-group", "endpoint-language"])
def test_bad_verdict_settings_name_the_key(edit, message):
    config = copy.deepcopy(DEMO)
    edit(config["report"])
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_declared_endpoints_and_primary_target_are_accepted():
    config = copy.deepcopy(DEMO)
    config["report"].update(endpoints=["avg-xx", "avg:in_pretraining"], primary_target="paws_x",
                            equivalence_margin=0.5)
    config["study"]["baseline_seeds"] = [1, 2, 3]
    validate_config(config)


@pytest.mark.parametrize("waves, seeds, message", [
    ([[1, 2], [2, 3]], [1, 2, 3], r"study\.waves: waves overlap \(seed 2 in more than one wave\)"),
    ([[3, 4], [1, 2]], [1, 2, 3, 4], r"study\.waves: waves go backwards"),
    ([[1, 3], [2]], [1, 2, 3], r"study\.waves: waves go backwards"),
    ([[1], [2]], [1, 2, 3], r"study\.waves: the waves' seeds \[1, 2\] are not study\.seeds \[1, 2, 3\]"),
    ([[1], []], [1], r"study\.waves\[1\]"),
], ids=["overlap", "backwards", "interleaved", "not-the-seeds", "empty-wave"])
def test_bad_waves_name_the_key(waves, seeds, message):
    config = copy.deepcopy(DEMO)
    config["study"].update(waves=waves, seeds=seeds)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_waves_and_spending_are_accepted():
    config = copy.deepcopy(DEMO)
    config["study"].update(waves=[[1, 2, 3], [4, 5, 6], [7, 8, 9, 10]], seeds=list(range(1, 11)))
    config["report"]["spending"] = "pocock"
    validate_config(config)
    config["report"]["spending"] = "haybittle"
    with pytest.raises(ConfigError, match=r"report\.spending"):
        validate_config(config)


# ---- per-model designs (study.models as a mapping, xlt/workflow/designs.py) ----

def two_model_config(**design) -> dict:
    """The demo with a second tiny Bloom that runs `design` (the first keeps the study's)."""
    config = copy.deepcopy(DEMO)
    config["models"]["tiny-bloom-wide"] = {"demo": {"hidden_size": 96, "n_layer": 2, "n_head": 4, "vocab_size": 500,
                                                    "seed": 1}, "family": "bloom"}
    config["study"]["models"] = {"tiny-bloom": None, "tiny-bloom-wide": design}
    return config


@pytest.mark.parametrize("design, message", [
    ({"intermediate": ["mnli", "squadd"]}, r"study\.models\.tiny-bloom-wide\.intermediate\[1\]: 'squadd' is not allowed"),
    ({"variants": ["standard", "fgmm"]}, r"study\.models\.tiny-bloom-wide\.variants: 'fgmm' has no block under variants"),
    ({"seeds": [1, 2, 3], "waves": [[1, 2], [2, 3]]}, r"study\.models\.tiny-bloom-wide\.waves: waves overlap"),
    ({"waves": [[3], [1, 2]]}, r"study\.models\.tiny-bloom-wide\.waves: waves go backwards"),
    ({"epochs": 2}, r"study\.models\.tiny-bloom-wide: Additional properties are not allowed \('epochs'"),
    ({"training": {"defaults": {"lora": {"rank": 4}}}}, r"study\.models\.tiny-bloom-wide\.training\.defaults\.lora"),
    ({"training": {"target": {"mnli": {"epochs": 1}}}}, r"study\.models\.tiny-bloom-wide\.training\.target"),
    ({"intermediate": ["mnli"], "multitask": True}, r"study\.models\.tiny-bloom-wide\.multitask: the mix needs at least two"),
], ids=["unknown-task", "unknown-variant", "overlapping-waves", "backwards-waves", "unknown-key", "bad-lora",
        "training-not-a-target", "one-task-mix"])
def test_bad_model_design_names_the_key(design, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(two_model_config(**design))


def test_model_design_overlays_the_study_and_layers_its_training():
    from xlt.workflow import designs, plan

    config = two_model_config(intermediate=["squad"], multitask=False, variants=["standard"], seeds=[1, 2, 3],
                              training={"defaults": {"lora": {"r": 4, "alpha": 8}, "batch_size": 4},
                                        "target": {"paws_x": {"epochs": 2}}})
    validate_config(config)
    wide = designs.view(config, "tiny-bloom-wide")
    assert designs.view(wide, "tiny-bloom-wide") == wide  # a view's view is itself
    assert wide["study"]["intermediate"] == ["squad"] and "waves" not in wide["study"]  # own seeds: no study waves
    assert "multitask_tasks" not in wide["study"]  # own intermediate: not the study's mix
    assert plan.waves(wide) == [[1, 2, 3]] and plan.model_waves(config) == {"tiny-bloom": [[1], [2]],
                                                                              "tiny-bloom-wide": [[1, 2, 3]]}
    # the study model's jobs read exactly what they read before; the other's carry its overrides
    assert training_config(config, "target", "paws_x", "tiny-bloom") == training_config(DEMO, "target", "paws_x")
    own = training_config(config, "target", "paws_x", "tiny-bloom-wide")
    assert own["lora"] == {"alpha": 8, "r": 4} and own["batch_size"] == 4 and own["epochs"] == 2
    assert training_config(config, "intermediate", "squad", "tiny-bloom-wide")["epochs"] == \
        training_config(DEMO, "intermediate", "squad")["epochs"]
    with pytest.raises(ValueError, match="name the model"):
        training_config(config, "target", "paws_x")
    runs = plan.intermediate_runs(config)
    assert {(r["task"], r["variant"], r["seed"]) for r in runs if r["model"] == "tiny-bloom-wide"} == \
        {("squad", "standard", s) for s in (1, 2, 3)}
    assert [r for r in runs if r["model"] == "tiny-bloom"] == plan.intermediate_runs(DEMO)
    with pytest.raises(ValueError, match="ask it of xlt.workflow.designs.view"):
        plan.intermediate_names(config)
    waves_only = designs.view(two_model_config(waves=[[1, 2], [3]]), "tiny-bloom-wide")
    assert waves_only["study"]["seeds"] == [1, 2, 3]  # waves without seeds: their union


def test_defaults_live_in_the_schema_and_are_applied_before_validation():
    """Every key with a default says it in schema.yaml, with a description; validate_config fills them in
    (blocks that have a default of their own are created) before it validates, so rules and steps read
    values, not copies of defaults; code that reads a block without validation takes the same defaults."""
    from xlt.workflow import cluster
    from xlt.workflow.config import load_schema, mixing_config, report_config, schema_defaults, transfer_config

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            if "default" in sub:
                yield f"{path}{key}", sub
            yield from walk(sub, f"{path}{key}.")

    defaults = dict(walk(load_schema(), ""))
    assert {"report.alpha", "bootstrap", "cluster.tokens_per_minute", "study.calibration.rule",
            "study.selection.seeds", "multitask", "transfer", "execution.warm_workers"} <= set(defaults)
    assert not [k for k, sub in defaults.items() if not sub.get("description")], "a default without a description"
    cfg = copy.deepcopy(DEMO)
    for block in ("report", "bootstrap", "cluster", "multitask", "transfer", "execution"):
        cfg.pop(block, None)
    cfg["study"]["calibration"].pop("control", None)
    validate_config(cfg)
    assert cfg["report"]["alpha"] == 0.05 and cfg["report"]["confirmatory"] == ["adversarial_vs_standard", "task_vs_baseline"]
    assert cfg["bootstrap"] == {"replicates": 10000, "seed": 0} and cfg["cluster"]["mem_mb"] == 32000
    assert cfg["study"]["calibration"]["control"] is True and cfg["study"]["calibration"]["rule"] == "best_nonzero"
    assert cfg["multitask"] == {"cap": None, "temperature": 1.0} and cfg["execution"] == {"warm_workers": False}
    # unvalidated configs (library use) read the same defaults, from the schema
    raw = {k: v for k, v in DEMO.items() if k not in ("report", "multitask", "transfer", "cluster")}
    assert report_config(raw) == report_config(cfg) and mixing_config(raw) == mixing_config(cfg)
    assert transfer_config(raw) == transfer_config(cfg) and cluster._cfg(raw) == schema_defaults("cluster")
    from xlt.analysis import comparisons
    from xlt.workflow import designs

    assert designs.confirmatory(raw, "tiny-bloom") == cfg["report"]["confirmatory"]  # designs.DEFAULT_FAMILIES
    assert list(inspect.signature(comparisons.comparisons_from_design).parameters["confirmatory"].default) == \
        cfg["report"]["confirmatory"]


def test_the_training_defaults_are_the_schemas_and_the_loops_alike():
    """training.defaults gets the schema's train_block defaults when the config is validated (rules and steps
    read them from there); the loop's TrainConfig, its library default for direct callers, holds the same."""
    import dataclasses

    from xlt.train.loop import TrainConfig
    from xlt.workflow.config import load_schema

    block = load_schema()["$defs"]["train_block"]["properties"]
    schema = {k: v["default"] for k, v in block.items() if "default" in v}
    loop = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert schema == loop
    cfg = copy.deepcopy(DEMO)
    validate_config(cfg)
    assert cfg["training"]["defaults"]["attention"] == "sdpa" and cfg["training"]["defaults"]["save_every"] == 500
    assert "attention" not in cfg["training"]["intermediate"]["mnli"]  # overlays stay overlays
