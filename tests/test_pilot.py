"""The pilot (config/pilot.yaml, rules/pilot.smk, xlt/workflow/pilot.py, xlt/analysis/pilot.py): priced at
about 2 GPU-hours, run offline on the demo's model and fixtures through the same rules — its report
measures each job's throughput and memory and fails loudly, naming the check, when a learning check fails;
the plan re-prices a config with the report and refuses one from another config; bad thresholds are named."""
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xlt.analysis import planning, repricing
from xlt.workflow import pilot
from xlt.workflow.config import ConfigError
from xlt.workflow.validate import validate_config
from workflow_runs import snakemake

ROOT = Path(__file__).resolve().parents[1]
PILOT = yaml.safe_load((ROOT / "config" / "pilot.yaml").read_text())
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())


def pilot_on_the_demo(checks=None) -> dict:
    """config/pilot.yaml with the demo's model, fixtures, features and a few training steps: the pilot's
    design, stages and rules (selection, calibration, intermediate, target with evaluation, the report)
    otherwise as they are. compile is off, as in the demo (a CPU machine)."""
    cfg = copy.deepcopy(PILOT)
    cfg["models"] = copy.deepcopy(DEMO["models"])
    cfg["study"]["models"] = {name: {} for name in cfg["models"]}
    cfg["datasets"] = {t: {"demo": True} for t in [*cfg["study"]["intermediate"], *cfg["study"]["targets"]]}
    cfg["demo_fixtures_seed"] = DEMO["demo_fixtures_seed"]
    cfg.pop("hub_revisions")
    for key in ("features", "qa", "cluster", "execution", "bootstrap"):
        cfg[key] = copy.deepcopy(DEMO[key])
    cfg["training"]["defaults"].update(compile=False, grad_accum=1, eval_every=None, max_steps=4, save_every=None)
    for stage in ("intermediate", "target"):  # caps below the fixtures' 96 training examples: the cap is used
        for block in cfg["training"][stage].values():
            if "max_train_examples" in block:
                block["max_train_examples"] = 48
    grid = DEMO["study"]["selection"]["target"]["grid"]
    cfg["study"]["selection"]["intermediate"]["grid"] = cfg["study"]["selection"]["target"]["grid"] = grid
    if checks is not None:
        cfg["pilot"]["checks"] = checks
    cfg["training"]["tensorboard"] = True  # the scalars are written too (tensorboard is in the test extra)
    return cfg


PASSING = {"paws_x": {"metric": "accuracy", "min": 0.0}, "tydiqa": {"metric": "f1", "min": 0.0}}


def test_the_pilot_is_priced_at_about_two_gpu_hours_and_is_the_study_cut_down():
    """Both study models, MNLI and SQuAD, standard and one adversarial variant, one seed, both targets in
    every language, capped training sets; what sets the speed is the study's, so its report re-prices it."""
    validate_config(copy.deepcopy(PILOT))
    hours = sum(j["minutes"] for j in planning.training_jobs(PILOT)) / 60
    assert 1.0 < hours <= 2.0 <= PILOT["study"]["budget_gpu_hours"]
    s = PILOT["study"]
    assert list(s["models"]) == list(STUDY["study"]["models"]) and s["intermediate"] == ["mnli", "squad"]
    assert s["variants"] == ["standard", "freelb"] and s["seeds"] == [1] and s["targets"] == STUDY["study"]["targets"]
    assert PILOT["variants"] == {v: STUDY["variants"][v] for v in s["variants"]}
    assert all(PILOT["training"][stage][t].get("max_train_examples") for stage, t in
               (("intermediate", "mnli"), ("intermediate", "squad"), ("target", "paws_x")))
    assert pilot.identity(PILOT) == pilot.identity(STUDY)  # the same models, lengths and speed settings
    assert PILOT["features"] == STUDY["features"] and PILOT["qa"] == STUDY["qa"]  # span QA decoded as the study
    assert PILOT["hub_revisions"] == STUDY["hub_revisions"]  # the same pins (refresh both)
    checks = pilot.checks(PILOT)
    assert set(checks) == {"paws_x", "tydiqa"} and checks["paws_x"]["metric"] == "accuracy"


@pytest.mark.parametrize("checks,error", [
    ({"paws_x": {"metric": "accuracy", "min": 65}},
     "pilot.checks.paws_x.min: 65 is outside the range of accuracy, [0, 1] (accuracy is a fraction: 0.65 means 65%)"),
    ({"tydiqa": {"metric": "f1", "min": 120}}, "pilot.checks.tydiqa.min: 120 is outside the range of f1, [0, 100]"),
    ({"tydiqa": {"metric": "f1", "min": -1}}, "pilot.checks.tydiqa.min: -1 is outside the range of f1, [0, 100]"),
    ({"paws_x": {"metric": "f1", "min": 0.5}}, "pilot.checks.paws_x.metric: paws_x does not score 'f1'; allowed values: accuracy"),
    ({"xnli": {"metric": "accuracy", "min": 0.5}}, "pilot.checks: 'xnli' is not allowed; allowed values: paws_x, tydiqa"),
], ids=["accuracy-in-points", "f1-above-100", "negative", "metric-of-another-format", "unknown-target"])
def test_a_threshold_outside_its_metrics_range_is_named(checks, error):
    cfg = copy.deepcopy(PILOT)
    cfg["pilot"]["checks"] = checks
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert error in str(err.value)


def test_a_pilot_has_no_waves():
    cfg = pilot_on_the_demo()
    cfg["study"].update(seeds=[1, 2], waves=[[1], [2]])
    with pytest.raises(ConfigError, match=r"pilot: tiny-bloom trains its seeds in 2 waves .* remove the waves"):
        validate_config(cfg)


def test_the_report_reads_the_metrics_each_target_scores():
    """pilot.METRICS (the check's allowed metrics and ranges) against what the formats' scorers return."""
    import pandas as pd

    from xlt.model.formats import classification, span_qa

    examples = pd.DataFrame({"id": ["a", "b"], "label": [0, 1]})
    assert set(classification.score({"a": 0, "b": 0}, examples)) == set(pilot.METRICS["classification"])
    qa = pd.DataFrame({"id": ["q"], "answer_texts": [["x"]], "answer_starts": [[0]]})
    scored = span_qa.score({"q": "x"}, qa)
    assert set(scored) == set(pilot.METRICS["span_qa"]) and scored["f1"] == 100.0


@pytest.fixture(scope="module")
def pilot_run(tmp_path_factory):
    """The pilot on the demo's model, up to its report (`make pilot`'s target), once for the module."""
    workdir = tmp_path_factory.mktemp("pilot")
    configfile = workdir / "pilot-demo.yaml"
    configfile.write_text(yaml.safe_dump(pilot_on_the_demo(PASSING)))
    proc = snakemake(workdir, "--cores", "2", "pilot", configfile=configfile)
    return workdir, configfile, proc


@pytest.mark.slow
def test_the_pilot_runs_the_study_rules_and_reports_what_its_jobs_measured(pilot_run):
    workdir, configfile, proc = pilot_run
    cfg = yaml.safe_load(configfile.read_text())
    ran = {}
    for rule in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", proc.stdout + proc.stderr, flags=re.M):
        ran[rule] = ran.get(rule, 0) + 1
    planned = planning.job_counts(cfg)
    for rule in ("select_point", "calibrate_point", "train_intermediate", "train_target_paws_x", "train_target_tydiqa",
                 "pilot_report"):
        assert ran[rule] == planned[rule], rule
    assert not {"statistics", "summary", "figures"} & set(ran)  # the pilot ends with its report
    report = json.loads((workdir / "results" / "pilot" / "report.json").read_text())
    jobs = pilot.training_jobs(cfg)
    assert len(report["jobs"]) == len(jobs) == sum(planned[r] for r in ("select_point", "calibrate_point",
                                                                         "train_intermediate", "train_target_paws_x",
                                                                         "train_target_tydiqa"))
    # throughput per model and variant, summed from the jobs' own records (dev_metrics.json `resources`)
    rows = {(t["model"], t["variant"]): t for t in report["throughput"]}
    assert set(rows) == {("tiny-bloom", "standard"), ("tiny-bloom", "freelb")}
    for (model, variant), row in rows.items():
        mine = [j for j in jobs if j["variant"] == variant]
        used = [json.loads((workdir / j["metrics"]).read_text())["resources"] for j in mine]
        assert row["jobs"] == len(mine) and row["tokens"] == sum(u["tokens"] for u in used) > 0
        assert row["tokens_per_minute"] == pytest.approx(60 * row["tokens"] / sum(u["seconds"] for u in used), rel=1e-3)
        assert row["assumed_passes"] == (3 if variant == "freelb" else 1)
    # every training job's wall time was read from its benchmark file; the cap held each run to 48 examples
    assert all(j["wall_s"] and j["wall_s"] > 0 for j in report["jobs"])
    log = (workdir / "results" / "target" / "tiny-bloom" / "mnli" / "freelb" / "paws_x" / "seed1" / "train_log.jsonl")
    assert json.loads(log.read_text().splitlines()[0])["train_examples"] == {"paws_x": 48}
    cost = {c["variant"]: c for c in report["variant_cost"]}
    assert cost["freelb"]["measured_cost"] > 1 and "mnli" in cost["freelb"]["tasks"]
    # no GPU here: peak memory is not measured, and says so
    assert report["devices"] == ["cpu"] and all(m["peak_gpu_memory_bytes"] is None for m in report["memory"])
    md = (workdir / "results" / "pilot" / "report.md").read_text()
    assert "not measured (no GPU)" in md and "| tiny-bloom | freelb |" in md
    # the learning checks: every target run of each target, against its declared threshold
    assert report["passed"] and {c["target"]: len(c["runs"]) for c in report["checks"]} == {"paws_x": 5, "tydiqa": 5}
    assert "- PASSED: paws_x accuracy >= 0" in md and "- PASSED: tydiqa f1 >= 0" in md
    # target checkpoints never reached the working directory
    assert not list((workdir / "results" / "target").rglob("checkpoint"))
    # TensorBoard scalars of every training run, under results/tensorboard/
    events = {p.parent.relative_to(workdir / "results" / "tensorboard").as_posix()
              for p in (workdir / "results" / "tensorboard").rglob("events.out.tfevents.*")}
    assert events == {str(Path(j["metrics"]).parent.relative_to("results").as_posix()) for j in jobs}


@pytest.mark.slow
def test_a_failed_learning_check_fails_the_report_job_naming_it(pilot_run, tmp_path):
    """The same finished pilot, a threshold no run reaches: only the report job re-runs, and it fails
    loudly — the check, its threshold and every run below it, in the job's log and Snakemake's output."""
    workdir = tmp_path / "pilot"
    shutil.copytree(pilot_run[0], workdir, symlinks=True)
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(pilot_on_the_demo({**PASSING, "paws_x": {"metric": "accuracy", "min": 1.0}})))
    dry = snakemake(workdir, "-n", "--quiet", "rules", "--", "pilot", configfile=strict).stdout
    assert set(re.findall(r"^(\w+)\s+\d+$", dry, flags=re.M)) - {"total"} == {"pilot_report", "pilot"}, dry
    proc = snakemake(workdir, "--cores", "2", "pilot", configfile=strict, check=False)
    assert proc.returncode != 0 and "Error in rule pilot_report" in proc.stdout + proc.stderr
    log = (workdir / "results" / "logs" / "pilot_report" / "all.log").read_text()
    assert "pilot check failed" in log
    named = re.search(r"pilot\.checks\.paws_x \(accuracy >= 1 on English dev\) failed: (.*)", log)
    assert named and len(re.findall(r"tiny-bloom/\w+/\w+/paws_x/seed1 [\d.]+", named.group(1))) == 5, log[-2000:]
    assert "pilot.checks.tydiqa" not in log.split("pilot check failed")[1]  # the passing check is not blamed
    assert "| tiny-bloom | standard |" in log  # what was measured survives the failure
    assert not (workdir / "results" / "pilot" / "report.json").exists()  # no report of a failed pilot


@pytest.mark.slow
def test_the_plan_reprices_with_the_pilots_throughput_and_refuses_another_configs(pilot_run, tmp_path):
    workdir, configfile, _ = pilot_run
    report_path = workdir / "results" / "pilot" / "report.json"
    report = json.loads(report_path.read_text())
    measured = next(t["tokens_per_minute"] for t in report["throughput"] if t["variant"] == "standard")
    plan = subprocess.run([sys.executable, "-m", "xlt.analysis.planning", "--configfile", str(configfile),
                           "--pilot", str(report_path)], capture_output=True, text=True, check=True).stdout
    cfg = yaml.safe_load(configfile.read_text())
    from xlt.workflow.cluster import tokens_per_minute
    from xlt.workflow.designs import view

    assumed = tokens_per_minute(view(cfg, "tiny-bloom"))  # the default scaled to the tiny model's parameters
    assert f"tiny-bloom: {measured:,.0f} tokens/min measured by the pilot on cpu (the config assumed {assumed:,.0f})" in plan
    assert f"re-priced with the pilot {report_path}" in plan
    repriced, _ = repricing.reprice(cfg, report)
    assert repriced["models"]["tiny-bloom"]["tokens_per_minute"] == measured
    hours = lambda c: sum(j["minutes"] for j in planning.training_jobs(c, workdir)) / 60  # noqa: E731
    assert hours(repriced) == pytest.approx(hours(cfg) * assumed / measured)
    assert f"{planning._h(hours(repriced) * 60)} GPU-hours at {measured:,.0f} tokens/min" in plan
    # the study's config is not what this pilot measured: refused, naming why
    other = subprocess.run([sys.executable, "-m", "xlt.analysis.planning", "--configfile", str(ROOT / "config.yaml"),
                            "--pilot", str(report_path)], capture_output=True, text=True, cwd=workdir)
    assert other.returncode != 0
    assert f"--pilot {report_path}: {report_path} is the pilot of models tiny-bloom" in other.stderr
    assert "not of this config's bloom-560m {'hub': 'bigscience/bloom-560m'}" in other.stderr
    # the same models with other speed settings: the key is named
    faster = copy.deepcopy(cfg)
    faster["training"]["defaults"]["compile"] = True
    faster["features"]["max_length"] = 128
    with pytest.raises(repricing.PilotMismatch) as err:
        repricing.reprice(faster, report, "report.json")
    assert "features.max_length: the pilot measured 96, this config has 128" in str(err.value)
    assert "training.defaults.compile: the pilot measured False, this config has True" in str(err.value)
    # TensorBoard on or off re-runs nothing (it is not a rule param)
    flipped = tmp_path / "flipped.yaml"
    flipped.write_text(yaml.safe_dump({**cfg, "training": {**cfg["training"], "tensorboard": False}}))
    assert "Nothing to be done" in snakemake(workdir, "-n", "--", "pilot", configfile=flipped).stdout
    (tmp_path / "other.json").write_text('{"seed": 1}')
    with pytest.raises(repricing.PilotMismatch, match="other.json is not a pilot report"):
        repricing.load_report(tmp_path / "other.json")
