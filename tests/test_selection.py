"""Choices made on English dev (issue 18): the radius calibration's control and noise-aware rule, the
training-key selection, the shortened schedule, chance levels and the matrix's collapsed runs."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xlt.workflow import calibration, designs, plan, selection
from xlt.data.chance import chance_level
from xlt.steps import train as train_step
from xlt.analysis.matrix import collapsed_runs, matrix_from_records, target_dev_records, without_collapsed

ROOT = Path(__file__).resolve().parents[1]
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
FULL = designs.view(STUDY, "bloom-560m")  # the full design (bloom-1b7 has a reduced one of its own)


def test_the_radius_is_the_best_nonzero_one_and_radius_0_is_reported_not_a_gate():
    """Calibration never trains a variant at radius 0 (a copy of standard training whose contrast would read
    "equivalent"): best_nonzero takes the best English-dev mean of the non-zero radii and says whether it
    beats the control by more than the paired SE; gated falls back to the declared radius instead."""
    control = {101: 80.0, 102: 82.0, 103: 81.0}
    # radius 0.1: +1 point on every seed -> paired SE 0: an English-dev effect is shown
    scores = {0.0: control, 0.03: {101: 80.5, 102: 81.0, 103: 81.5}, 0.1: {101: 81.0, 102: 83.0, 103: 82.0},
              1.0: {101: 40.0, 102: 45.0, 103: 42.0}}
    got = calibration.choose(scores)
    assert got["effective"] and got["chosen"] == 0.1 and got["best"] == 0.1
    row = next(r for r in got["rows"] if r["radius"] == 0.1)
    assert row["mean"] == pytest.approx(82.0) and row["se"] == pytest.approx(math.sqrt(1 / 3))
    assert row["vs_control"] == {"diff": pytest.approx(1.0), "se": pytest.approx(0.0), "n": 3}
    # the same best mean, but the per-seed differences scatter: +3, -1, +1 -> mean 1 < SE 1.15: not shown
    noisy = {0.0: control, 0.1: {101: 83.0, 102: 81.0, 103: 82.0}}
    got = calibration.choose(noisy)
    d = got["rows"][1]["vs_control"]
    assert d["diff"] == pytest.approx(1.0) and d["se"] == pytest.approx(math.sqrt(4 / 3) / 1)  # SD 2 / sqrt(3)
    assert got["effective"] is False and got["chosen"] == 0.1 and "not shown" in got["decision"]
    assert "not a gate" in got["decision"]
    # gated: no effect shown -> the declared fallback, never 0
    got = calibration.choose(noisy, "gated", 0.3)
    assert got["chosen"] == 0.3 and "fallback radius 0.3" in got["decision"]
    assert calibration.choose(scores, "gated", 0.3)["chosen"] == 0.1  # the gate passed
    with pytest.raises(ValueError, match="fallback radius > 0"):
        calibration.choose(noisy, "gated", 0.0)
    # the control itself best: still a non-zero radius (the best of them)
    assert calibration.choose({0.0: {1: 90.0, 2: 91.0}, 0.1: {1: 80.0, 2: 81.0}})["chosen"] == 0.1
    # one seed: no standard error, so nothing can be shown to beat the control
    assert not calibration.choose({0.0: {1: 80.0}, 0.1: {1: 90.0}})["effective"]
    # without the control: the best mean, ties to the smaller radius
    got = calibration.choose({0.01: {1: 80.0}, 0.03: {1: 81.5}, 0.1: {1: 81.5}})
    assert got["chosen"] == 0.03 and got["effective"] is None
    with pytest.raises(ValueError, match="no non-zero radius"):
        calibration.choose({0.0: {1: 80.0, 2: 81.0}})


def test_calibration_record_and_summary_table_show_every_point_with_mean_and_se(tmp_path):
    block = DEMO["variants"]["freelb"]
    cal = calibration.variant_settings(DEMO, "freelb")
    scores = {0.0: {101: 50.0, 102: 52.0}, 0.03: {101: 55.0, 102: 56.0}, 0.1: {101: 30.0, 102: 31.0}}
    rec = calibration.result("freelb", block, cal, "accuracy", scores, chance=33.3)
    assert rec["chosen"] == 0.03 and rec["effective"] and rec["seeds"] == [101, 102]
    assert rec["chosen_block"]["max_norm"] == 0.03 and rec["horizon"] == {"fraction": DEMO["study"]["calibration"]["fraction"]}
    assert [r["collapsed"] for r in rec["grid"]] == [False, False, True]  # 30.5 <= 33.3 + 2
    path = tmp_path / "freelb.json"
    path.write_text(json.dumps(rec))
    table = calibration.calibration_table([str(path)])
    assert "| freelb | 0 | 51.00 ± 1.00 | control | 2 |  |" in table
    assert "| freelb | 0.03 | 55.50 ± 0.50 | +4.50 ± 0.50 | 2 | **chosen** |" in table
    assert "| freelb | 0.1 | 30.50 ± 0.50 | -20.50 ± 0.50 | 2 | collapsed |" in table
    assert "vs radius 0 +4.50 ± 0.50 points: English-dev effect shown" in table
    sel = tmp_path / "mnli.json"
    sel.write_text(json.dumps(selection.result("intermediate", "mnli", "accuracy", ["learning_rate=1e-05"],
                                               {"learning_rate=1e-05": {1: 70.0, 2: 72.0}}, {"steps": 5, "seeds": 2})))
    assert "| intermediate | mnli | pretrained model | learning_rate=1e-05 | 71.00 ± 1.00 | 2 | **chosen** |" in \
        selection.selection_table([str(sel)])
    # no English-dev effect: the variant still trains at its best non-zero radius, tied sizes scaled alike
    rec = calibration.result("freelb", block, cal, "accuracy", {0.0: {1: 50.0, 2: 52.0}, 0.1: {1: 49.0, 2: 50.0}})
    assert rec["chosen"] == 0.1 and rec["effective"] is False and rec["rule"] == "best_nonzero"
    assert rec["chosen_block"]["adv_lr"] == pytest.approx(0.1 / 3) and rec["chosen_block"]["max_norm"] == 0.1


def test_training_key_selection_picks_the_best_mean_and_jobs_read_it(tmp_path):
    labels = selection.grid(STUDY, "intermediate")
    assert labels == ["learning_rate=1e-05", "learning_rate=3e-05", "learning_rate=5e-05"]
    assert selection.parse_point("batch_size=16,learning_rate=3e-05") == {"batch_size": 16, "learning_rate": 3e-5}
    scores = {labels[0]: {1: 70.0, 2: 71.0, 3: 72.0}, labels[1]: {1: 75.0, 2: 74.0, 3: 76.0},
              labels[2]: {1: 75.0, 2: 76.0, 3: 74.0}}
    rec = selection.result("intermediate", "mnli", "accuracy", labels, scores, selection.stage_settings(STUDY, "intermediate"))
    assert rec["chosen"] == {"learning_rate": 3e-5}  # tie with 5e-5: the smaller value
    assert [r["se"] for r in rec["grid"]] == [pytest.approx(math.sqrt(1 / 3))] * 3
    path = tmp_path / "mnli.json"
    path.write_text(json.dumps(rec))
    block = STUDY["training"]["defaults"]
    assert selection.resolve(block, str(path))["learning_rate"] == 3e-5
    with pytest.raises(ValueError, match="no selection result"):
        selection.resolve(block, None)
    # which jobs read which selection: every intermediate task, the mix and the calibration read MNLI's;
    # each target its own
    assert selection.selection_of(FULL, "intermediate", "squad") == ("intermediate", "mnli")
    assert selection.selection_of(FULL, "intermediate", plan.MULTITASK) == ("intermediate", "mnli")
    assert selection.selection_of(FULL, "target", "tydiqa") == ("target", "tydiqa")
    assert selection.selections(FULL) == [("intermediate", "mnli"), ("target", "paws_x"), ("target", "tydiqa")]
    # the demo selects MNLI's and PAWS-X's learning rate only
    assert selection.selection_of(DEMO, "intermediate", "squad") is None
    assert selection.selections(DEMO) == [("intermediate", "mnli"), ("target", "paws_x")]


def test_selection_stage_jobs_are_the_grid_times_the_seeds():
    jobs = calibration.selection_stage_jobs(FULL)
    cal = STUDY["study"]["calibration"]
    assert len(jobs["calibrate_point"]) == sum(len(v) for v in cal["grid"].values()) * cal["seeds"] == 75
    tydiqa = selection.task_block(FULL, "target", "tydiqa")
    assert tydiqa["fraction"] == 1.0 and sorted(tydiqa["grid"]) == ["epochs", "learning_rate"]
    assert selection.task_block(FULL, "target", "paws_x")["fraction"] == 0.25
    assert selection.upper_bound(FULL, "target", {"epochs": "selected"}, "tydiqa") == {"epochs": 10}
    assert len(jobs["calibrate"]) == 5
    # MNLI: 3 values x 3 seeds from the pretrained model; PAWS-X: 3 values x 3 seeds from each of 10 starts
    # (the pretrained model, 9 tasks' standard checkpoints); TyDiQA: 3 rates x 4 epoch counts the same way
    assert len(jobs["select_point"]) == 9 + 10 * 9 + 10 * 12 * 3 and len(jobs["select"]) == 3
    assert {r["seed"] for r in jobs["select_point"] + jobs["calibrate_point"]} == {101, 102, 103}
    assert {r["start"] for r in jobs["select_point"] if r["stage"] == "target"} == {"none", *FULL["study"]["intermediate"]}
    starts = selection.start_runs(FULL)
    assert len(starts) == 9 * 3 and {(r["variant"], r["seed"]) for r in starts} == {("standard", s) for s in (101, 102, 103)}
    # every model runs the stages for its own design: bloom-1b7 calibrates its one adversarial variant
    both = calibration.selection_stage_jobs(STUDY)
    assert [r for r in both["calibrate_point"] if r["model"] == "bloom-1b7"] == \
        [{**r, "model": "bloom-1b7"} for r in jobs["calibrate_point"] if r["variant"] == "freelb"]
    assert len(both["select"]) == 2 * 3
    assert all(0 in [float(r) for r in radii] for radii in cal["grid"].values())  # the control everywhere
    assert calibration.result_files(STUDY)[0] == "results/calibration/bloom-560m/fgm.json"
    assert selection.result_files(DEMO) == ["results/selection/tiny-bloom/intermediate/mnli.json",
                                            "results/selection/tiny-bloom/target/paws_x.json"]
    demo = calibration.selection_stage_jobs(DEMO)
    assert len(demo["calibrate_point"]) == 3 * 2 and len(demo["select_point"]) == 2 + 2 * 2  # PAWS-X: none, mnli


def test_a_fraction_of_the_schedule_keeps_its_warmup_and_decay_shape():
    full = {"learning_rate": 1e-3, "batch_size": 8, "grad_accum": 2, "epochs": 2, "warmup_ratio": 0.1,
            "weight_decay": 0.0, "max_grad_norm": 1.0, "eval_every": 100}
    cut = train_step.apply_fraction(selection.horizon(full, {"fraction": 0.25}), {"t": 1000}, None)
    # 1000 / 16 -> 63 steps per epoch, 126 in all; a quarter: 32 steps (31.5 rounded), scored at the end
    assert cut["max_steps"] == 32 and cut["eval_every"] == 32 and "schedule_fraction" not in cut
    assert cut["warmup_ratio"] == 0.1  # warmup 3 of 32 steps, linear decay to 0 at step 32
    assert selection.for_runtime(selection.horizon(full, {"fraction": 0.25}))["epochs"] == 0.5
    # job sizes before the selection has run: the largest value of the grid
    assert selection.upper_bound(STUDY, "target", {"learning_rate": "selected", "epochs": 2}) == \
        {"learning_rate": 5e-5, "epochs": 2}
    fixed = selection.horizon(full, {"steps": 12})
    assert fixed["max_steps"] == 12 and train_step.apply_fraction(fixed, {"t": 1000}, None) == fixed


def test_chance_is_the_best_constant_prediction_of_each_format():
    cls = pd.DataFrame({"label": [0, 0, 0, 1, 2]})
    assert chance_level("mnli", cls)["value"] == pytest.approx(60.0)
    assert chance_level("paws_x", pd.DataFrame({"label": [0, 1]}))["value"] == pytest.approx(50.0)
    mc = pd.DataFrame({"label": [0, 1, 2, 3], "choices": [["a", "b", "c", "d"]] * 4})
    assert chance_level("hellaswag", mc)["value"] == pytest.approx(25.0)
    squad = pd.DataFrame({"answer_texts": [["x"], ["y"]]})
    assert chance_level("squad", squad) == {"metric": "f1", "value": 0.0, "rule": chance_level("squad", squad)["rule"]}
    v2 = pd.DataFrame({"answer_texts": [["x"], [], [], ["y"]]})
    assert chance_level("squad_v2", v2)["value"] == pytest.approx(50.0)  # always empty: right on no-answer ones
    tags = pd.DataFrame({"tags": [["N", "N", "V"], ["N"]]})
    assert chance_level("ccg", tags)["value"] == pytest.approx(75.0)


def _dev(tmp_path, model, inter, variant, target, seed, accuracy):
    path = Path(plan.target_file(model, inter, variant, target, seed, "dev_metrics.json"))
    path = tmp_path / path
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"metrics": {target: {"accuracy": accuracy, "step": 10}},
                                "chance": {target: {"metric": "accuracy", "value": 50.0, "rule": "majority"}}}))
    return str(path)


def test_collapsed_runs_are_flagged_on_every_row_and_listed(tmp_path):
    runs = [("m", "mnli", "fgm", "paws_x", 1, 0.515), ("m", "mnli", "fgm", "paws_x", 2, 0.80),
            ("m", "none", "standard", "paws_x", 1, 0.521)]
    dev = target_dev_records([_dev(tmp_path, *r) for r in runs])
    records = [{"model": m, "intermediate": i, "variant": v, "target": t, "seed": s, "language": lang,
                "metrics": {"accuracy": 0.5}} for m, i, v, t, s, _ in runs for lang in ("en", "de")]
    records.append({"model": "m", "intermediate": "mnli", "variant": "fgm", "target": "mnli", "seed": 1,
                    "language": "en", "stage": "intermediate", "metrics": {"accuracy": 0.34},
                    "dev": {"dev_score": 34.0, "dev_chance": 33.0, "collapsed": True}})
    matrix = matrix_from_records(records, dev)
    target = matrix[matrix["stage"] == "target"]
    flags = target.groupby(["intermediate", "seed"])["collapsed"].agg(set).to_dict()
    # 51.5 <= 50 + 2: collapsed; 52.1 is not; 80 is not — the same flag on both languages' rows
    assert flags == {("mnli", 1): {True}, ("mnli", 2): {False}, ("none", 1): {False}}
    upstream = target.groupby(["intermediate", "seed"])["intermediate_collapsed"].agg(set).to_dict()
    assert upstream[("mnli", 1)] == {True} and upstream[("none", 1)] == {False}
    assert upstream[("mnli", 2)] == {None}  # no intermediate record of that run here
    got = collapsed_runs(matrix)
    assert got[["intermediate", "variant", "seed"]].values.tolist() == [["mnli", "fgm", 1]]
    assert got["dev_score"].tolist() == [pytest.approx(51.5)] and got["dev_chance"].tolist() == [50.0]
    scores = pd.DataFrame({"model": "m", "intermediate": ["mnli", "mnli", "none"], "variant": ["fgm", "fgm", "standard"],
                           "target": "paws_x", "seed": [1, 2, 1], "score": [1, 0, 1]})
    assert without_collapsed(scores, matrix)[["intermediate", "seed"]].values.tolist() == [["mnli", 2], ["none", 1]]


def test_a_selection_run_trains_the_shortened_schedule_with_the_selected_value(fixtures_dir, tiny_model_dir, tmp_path):
    """fine_tune resolves `selected` from the selection result and a schedule_fraction into max_steps: the
    logged learning rate warms up over warmup_ratio of the shortened run and reaches 0 at its end; the dev
    metrics carry the chance level."""
    from xlt.steps import data, train

    task = "paws_x"
    data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), {"max_length": 48},
                   str(tmp_path / "f.parquet"))
    spec = {"name": task, "train": str(tmp_path / "f.parquet"), "dev": str(tmp_path / "f.parquet"),
            "dev_data": str(fixtures_dir / task / "train.parquet")}
    (tmp_path / "sel.json").write_text(json.dumps({"chosen": {"learning_rate": 2e-3}}))
    n = len(pd.read_parquet(tmp_path / "f.parquet"))
    cfg = selection.horizon({"learning_rate": "selected", "batch_size": 16, "epochs": 4, "warmup_ratio": 0.25},
                            {"fraction": 0.5})
    train.fine_tune_tasks([spec], str(tiny_model_dir), cfg, 0, str(tmp_path / "c"), str(tmp_path / "m.json"),
                          str(tmp_path / "log.jsonl"), selection=str(tmp_path / "sel.json"))
    records = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    steps = [r for r in records if "loss" in r]
    total = max(1, round(0.5 * round(4 * math.ceil(n / 16))))
    assert records[0]["total_steps"] == len(steps) == total and total >= 8
    warmup = round(0.25 * total)
    lrs = [r["lr"] for r in steps]
    assert lrs[0] == 0.0 and max(lrs) == pytest.approx(2e-3) and lrs.index(max(lrs)) == warmup
    assert lrs[-1] == pytest.approx(2e-3 / (total - warmup))  # the last step before the decay reaches 0
    assert [r for r in records if "dev" in r][-1]["step"] == total  # scored once, at the end
    out = json.loads((tmp_path / "m.json").read_text())
    assert out["training"]["learning_rate"] == 2e-3 and out["training"]["max_steps"] == total
    assert out["chance"][task]["metric"] == "accuracy" and 0 < out["chance"][task]["value"] < 100


def test_the_calibration_rule_never_trains_at_radius_0_and_finds_a_radius_that_helps(capsys):
    """Simulated calibrations at the study's settings (xlt/analysis/calibration_simulation.py, the project's own
    `choose`): no calibration trains at radius 0; with no English-dev effect best_nonzero spreads evenly over
    the non-zero radii; +1 point at one radius is chosen almost always. docs/methods.md prints the table."""
    import numpy as np

    from xlt.analysis.calibration_simulation import GRID, simulate

    rng = np.random.default_rng(5)
    null = simulate(rng, {}, "best_nonzero", None, 1000)
    gated = simulate(rng, {}, "gated", 0.1, 1000)
    found = simulate(rng, {0.1: 1.0}, "best_nonzero", None, 1000)
    with capsys.disabled():
        print(f"\ncalibration choices, no effect: {null}; gated: {gated}; +1 at 0.1: {found}")
    assert null["chosen"][0.0] == gated["chosen"][0.0] == found["chosen"][0.0] == 0.0
    assert all(0.18 <= null["chosen"][r] <= 0.32 for r in GRID if r > 0), null
    assert 0.3 <= null["shown"] <= 0.6 and gated["chosen"][0.1] >= 0.55  # the fallback when no effect is shown
    assert found["chosen"][0.1] >= 0.95 and found["shown"] >= 0.95
