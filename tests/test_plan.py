"""The plan command (xlt/analysis/planning.py, `python -m xlt.analysis.planning`): job counts as the dry run's, GPU-hours that
follow passes, epochs and tokens, MDEs that fall as 1/sqrt(seeds), the budget warning, the table in docs/study.md."""
import copy
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy import stats as st

from xlt.workflow import cluster

from xlt.analysis import planning
from xlt.workflow.plan import MULTITASK, features_file

ROOT = Path(__file__).resolve().parents[1]
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())


def dry_run_counts(workdir, configfile) -> dict[str, int]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile",
           str(configfile), "-n", "--quiet", "rules"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)}
    counts.pop("total")
    return counts


def two_models() -> dict:
    """The demo plus a second tiny Bloom with a reduced design of its own (no waves, LoRA)."""
    config = copy.deepcopy(DEMO)
    config["models"]["tiny-bloom-lora"] = {"demo": {**config["models"]["tiny-bloom"]["demo"], "seed": 1},
                                           "family": "bloom"}
    config["study"]["models"] = {"tiny-bloom": None, "tiny-bloom-lora": {
        "intermediate": ["squad"], "multitask": False, "variants": ["standard", "freelb"], "seeds": [1, 2, 3],
        "training": {"defaults": {"lora": {"r": 4, "alpha": 8}}, "target": {"paws_x": {"epochs": 2}}}}}
    return config


@pytest.mark.parametrize("name", ["demo", "study", "two-models", "pilot"])
def test_job_counts_equal_the_dry_runs(name, study_workdir, tmp_path):
    """The pilot's dry run also shows that it builds offline (config/pilot.yaml reads the Hub)."""
    configfile = ROOT / {"demo": "config/demo.yaml", "pilot": "config/pilot.yaml"}.get(name, "config.yaml")
    if name == "two-models":
        configfile = tmp_path / "two-models.yaml"
        configfile.write_text(yaml.safe_dump(two_models()))
    config = yaml.safe_load(configfile.read_text())
    looks = sum(len(w) - 1 for w in planning.plan.model_waves(config).values())
    if looks:  # the plan counts the maximum design (a dry run lists the first wave only): every wave trained,
        fixed = copy.deepcopy(config)  # as the fixed design of the same seeds, plus a look per wave but the last
        fixed["study"].pop("waves", None)
        for design in (fixed["study"]["models"].values() if isinstance(fixed["study"]["models"], dict) else []):
            (design or {}).pop("waves", None)
        configfile = tmp_path / "maximum.yaml"
        configfile.write_text(yaml.safe_dump(fixed))
    expected = dry_run_counts(study_workdir, configfile)
    if looks:
        expected = {**expected, "interim": looks}
    assert planning.job_counts(config) == expected
    print(f"\n{name}: {sum(expected.values())} jobs, per rule as snakemake -n")


def _minutes(jobs, **match):
    return sum(j["minutes"] for j in jobs if all(j[k] == v for k, v in match.items()))


def test_gpu_hours_scale_with_passes_epochs_and_tokens(tmp_path):
    jobs = planning.training_jobs(STUDY, tmp_path)
    counts = planning.job_counts(STUDY)  # every training job is priced once
    from xlt.workflow import selection

    starts = len(selection.start_runs(STUDY))  # train_intermediate jobs that target selection starts from
    for stage in planning.TRAINING_STAGES:
        extra = {"selection": starts, "intermediate": -starts}.get(stage, 0)
        assert sum(j["stage"] == stage for j in jobs) == sum(n for r, n in counts.items() if planning.stage_of(r) == stage
                                                             and r not in ("select", "calibrate")) + extra, stage
    one = dict(stage="intermediate", arm="mnli", model="bloom-560m")  # the study's runs (not selection's starts)
    std, fgm, pgd = (_minutes(jobs, **one, variant=v) for v in ("standard", "fgm", "pgd"))
    assert std > 0 and fgm == pytest.approx(2 * std) and pgd == pytest.approx(4 * std)  # passes per step
    longer = copy.deepcopy(STUDY)
    longer["training"]["intermediate"]["mnli"]["epochs"] *= 3
    assert _minutes(planning.training_jobs(longer, tmp_path), **one) == pytest.approx(3 * _minutes(jobs, **one))
    # featurised token counts replace the stand-in, and the hours follow them
    stand_in = _minutes(jobs, **one, variant="standard")
    path = tmp_path / features_file("bloom-560m", "mnli", "train")
    path.parent.mkdir(parents=True)
    for tokens in (50, 100):
        df = pd.DataFrame({"x": [0]})
        df.attrs["token_stats"] = {"features": 400_000, "sequences": 400_000, "tokens": 400_000 * tokens}
        df.to_parquet(path)
        got = _minutes(planning.training_jobs(STUDY, tmp_path), **one, variant="standard")
        seeds, epochs = len(STUDY["study"]["seeds"]), STUDY["training"]["intermediate"]["mnli"]["epochs"]
        tpm = STUDY["cluster"]["tokens_per_minute"]
        assert got == pytest.approx(seeds * 1.5 * epochs * 400_000 * tokens / tpm)
    assert got != stand_in
    from xlt.workflow.designs import view

    assert planning.token_sources(view(STUDY, "bloom-560m"), tmp_path)["mnli"] == "featurised"
    assert planning.token_sources(STUDY, tmp_path)["mnli"] == "stand-in"  # bloom-1b7's are not featurised yet
    assert planning.token_sources(STUDY, tmp_path)["qqp"] == "stand-in"


def test_multitask_one_epoch_is_one_pass_over_the_capped_mix():
    """epochs: 1 of the mix trains on sum(min(size, cap)) examples, as the training loop counts an epoch,
    so it costs what the capped single tasks cost together; the old max_steps was ~5 of those passes."""
    from xlt.workflow.designs import view

    cfg = view(STUDY, "bloom-560m")
    cap = cfg["multitask"]["cap"]
    one = {**cfg["training"]["defaults"], "epochs": 1, "max_steps": None}
    mix = cluster.train_tokens(cfg, MULTITASK, one, {})
    capped = sum(cluster.train_tokens(cfg, t, {**one, "max_train_examples": cap}, {}) for t in cfg["study"]["intermediate"])
    assert mix == pytest.approx(capped)
    examples = sum(min(cluster.TRAIN_SIZE[t], cap) for t in cfg["study"]["intermediate"])
    assert 5 < 100_000 * 32 / examples < 6  # the former max_steps: 100000 x 32 sequences
    assert STUDY["training"]["intermediate"][MULTITASK].get("epochs") == 1


def test_mde_falls_as_one_over_root_seeds_for_the_run_part():
    kw = dict(alpha=0.05, power=0.8, tests=5, item_df=1999)
    for seeds in (3, 12):
        a = planning.contrast_mde(2.0, seeds, 10, 0.0, **kw)
        b = planning.contrast_mde(2.0, 4 * seeds, 10, 0.0, **kw)
        # se halves with 4x the seeds; what is left is the t quantiles' change with the df
        multiplier = lambda r: st.t.ppf(1 - 0.05 / 5 / 2, 10 * (r - 1)) + st.t.ppf(0.8, 10 * (r - 1))
        assert b / a == pytest.approx(0.5 * multiplier(4 * seeds) / multiplier(seeds))
        assert a == pytest.approx(multiplier(seeds) * math.sqrt(2 * 4.0 / (seeds * 10)))
    # pooling over more tasks works like more seeds; items only add
    assert planning.contrast_mde(2.0, 6, 10, 0.0, **kw) > planning.contrast_mde(2.0, 6, 20, 0.0, **kw)
    assert planning.contrast_mde(2.0, 6, 10, 0.3, **kw) > planning.contrast_mde(2.0, 6, 10, 0.0, **kw)
    # a reference arm with its own seeds (study.baseline_seeds): the same numbers when equal, smaller with more
    kw2 = dict(alpha=0.05, power=0.8, tests=10, item_df=1999)
    assert planning.contrast_mde(2.0, 6, 1, 0.0, **kw2, reference_seeds=6) == \
        pytest.approx(planning.contrast_mde(2.0, 6, 1, 0.0, **kw2, blocks=2))
    assert planning.contrast_mde(2.0, 6, 1, 0.0, **kw2, reference_seeds=30) < planning.contrast_mde(2.0, 6, 1, 0.0, **kw2, blocks=2)
    # the item part: chance disagreement on 2,000 items per language, six non-English languages
    paws = planning.TEST_SIZE["paws_x"]
    assert planning.item_se(paws, 3, 10) == pytest.approx(math.sqrt(2 * 2500 / 30 / 6 / 2000))


def test_power_rows_are_consistent_with_their_mde(study_workdir):
    for row in planning.power_rows(STUDY):
        fam = dict(tests=row["tests"], tasks=row["tasks"], blocks=row["blocks"])
        sizes = {lang: planning.TEST_SIZE[row["target"]][lang] for lang in STUDY["study"]["targets"][row["target"]]}

        def mde_at(r):
            ise = planning.item_se(sizes, r, fam["tasks"], row["reference_seeds"])
            return planning.contrast_mde(row["run_sd"], r, fam["tasks"], ise, 0.05, 0.8, fam["tests"],
                                         min(sizes.values()) - 1, fam["blocks"], row["reference_seeds"])
        need = row["seeds_needed"]
        assert mde_at(need) <= 1.0 < mde_at(need - 1)
        assert (row["mde"] <= 1.0) == (row["power"] >= 0.8)
    # the study's design: the adversarial family reaches a 1-point MDE at its seeds, on both targets
    adversarial = [r for r in planning.power_rows(STUDY) if r["family"] == "adversarial_vs_standard"
                   and r["model"] == "bloom-560m"]
    assert len(adversarial) == 2 and all(r["mde"] <= STUDY["report"]["effect_of_interest"] for r in adversarial)
    # the inverse: power at the MDE is the configured power
    assert planning.power_at(1.3, 1.3, 50, 0.05, 5, 0.8) == pytest.approx(0.8)


def test_each_model_is_priced_and_powered_by_its_own_design(tmp_path):
    """A model's own design: its jobs, GPU-hours, seeds and families are its own; the study model's
    rows are what the one-model study gives."""
    config = two_models()
    jobs = planning.training_jobs(config, tmp_path)
    theirs = [j for j in jobs if j["model"] == "tiny-bloom-lora"]
    assert {j["arm"] for j in theirs if j["stage"] == "intermediate"} == {"squad"}
    assert sum(j["stage"] == "intermediate" for j in theirs) == 1 * 2 * 3
    assert sum(j["stage"] == "target" for j in theirs) == (1 * 2 + 1) * 2 * 3  # + the baseline, 2 targets
    ours = [j for j in jobs if j["model"] == "tiny-bloom"]
    assert ours == planning.training_jobs(DEMO, tmp_path)
    # its paws_x target runs are 2 epochs instead of the demo's 6: a third of the minutes
    paws = lambda js: sum(j["minutes"] for j in js if j["stage"] == "target" and j["target"] == "paws_x"
                          and j["arm"] == "squad" and j["variant"] == "standard")
    # (per seed), and LoRA's 4 N FLOPs per token instead of 6 N (xlt/workflow/cluster.py)
    assert paws(theirs) / 3 == pytest.approx(paws(ours) / 2 / 3 * 4 / 6)
    rows = planning.power_rows(config)
    assert [r for r in rows if r["model"] == "tiny-bloom"] == [{**r, "model": "tiny-bloom", "run_sd_from": "assumed"}
                                                               for r in planning.power_rows(DEMO)]
    mine = {(r["family"], r["target"]): r for r in rows if r["model"] == "tiny-bloom-lora"}
    assert mine[("adversarial_vs_standard", "paws_x")]["seeds"] == 3 and mine[("adversarial_vs_standard", "paws_x")]["tasks"] == 1
    assert mine[("task_vs_baseline", "paws_x")]["tests"] == 1 * 2  # one task x two targets
    out = planning.format_plan(config, "two-models")
    assert "tiny-bloom-lora: 1 intermediate arms (+ none) x 2 variants x 3 seeds; own design:" in out
    assert re.search(r"^tiny-bloom-lora: [\d.<]+ GPU-hours at [\d,]+ tokens/min$", out, flags=re.M)


def test_measured_run_sd_replaces_the_assumed_one(tmp_path):
    """Once results exist, the plan powers each model's tests at the run sd they show: the final
    statistics' run_variance.csv (pooled over the task grouping), else the model's latest interim look."""
    config = two_models()
    assumed = {(r["model"], r["family"], r["target"]): r for r in planning.power_rows(config)}
    look = tmp_path / planning.plan.interim_file("tiny-bloom", 1)
    look.parent.mkdir(parents=True)
    look.write_text('{"run_sd": [{"model": "tiny-bloom", "target": "paws_x", "run_sd": 4.0, "df": 9}]}')
    measured, source = planning.measured_run_sd(config, tmp_path)
    assert measured == {("tiny-bloom", "paws_x"): 4.0} and source == "results/interim/tiny-bloom/wave1.json"
    rows = {(r["model"], r["family"], r["target"]): r for r in planning.power_rows(config, measured)}
    key = ("tiny-bloom", "adversarial_vs_standard", "paws_x")
    assert rows[key]["run_sd"] == 4.0 and rows[key]["run_sd_from"] == "measured"
    assert rows[key]["mde"] > assumed[key]["mde"]  # twice the assumed sd
    other = ("tiny-bloom-lora", "adversarial_vs_standard", "paws_x")
    assert rows[other] == {**assumed[other], "run_sd_from": "assumed"}
    table = tmp_path / "results" / "report" / "run_variance.csv"
    table.parent.mkdir(parents=True)
    pd.DataFrame([dict(grouping="task", group="squad", run_sd=1.0, df=3, target="tydiqa", model="tiny-bloom-lora"),
                  dict(grouping="task", group="none", run_sd=2.0, df=1, target="tydiqa", model="tiny-bloom-lora"),
                  dict(grouping="variant", group="standard", run_sd=9.0, df=3, target="tydiqa", model="tiny-bloom-lora")]
                 ).to_csv(table, index=False)
    measured, source = planning.measured_run_sd(config, tmp_path)
    assert source == "results/report/run_variance.csv"
    assert measured == {("tiny-bloom-lora", "tydiqa"): pytest.approx(math.sqrt((3 * 1 + 1 * 4) / 4))}
    out = planning.format_plan(config, "c", tmp_path)
    assert "measured in results/report/run_variance.csv where it says so" in out
    assert re.search(r"tiny-bloom-lora +adversarial_vs_standard +tydiqa .* 1\.32 \(measured\)", out)
    assert "tiny-bloom-lora adversarial_vs_standard can detect" not in out
    assert "at the run sd (measured where results exist, else ASSUMED)" in out  # the model with measured rows
    assert "tiny-bloom adversarial_vs_standard: only effects" in out and "at the ASSUMED run sd 2 points" in out


def test_the_plan_says_go_or_no_go_per_family_with_its_assumption_and_explains_its_columns(study_workdir):
    out = planning.format_plan(STUDY, "config.yaml")
    go = out.split("Go / no-go per confirmatory family")[1]
    sentences = [line for line in go.splitlines() if line.startswith("- ")]
    # bloom-560m's two families and bloom-1b7's one (it declares adversarial_vs_standard only)
    assert len(sentences) == len({(r["model"], r["family"]) for r in planning.power_rows(STUDY)}) == 3
    rows = {(r["model"], r["family"], r["target"]): r for r in planning.power_rows(STUDY)}
    effect = STUDY["report"]["effect_of_interest"]
    for line in sentences:
        model, family = re.search(r"(bloom-\S+) (\w+)", line).groups()
        mdes = [rows[(model, family, t)]["mde"] for t in ("paws_x", "tydiqa")]
        assert line.startswith("- GO — " if max(mdes) <= effect else "- NO-GO — "), line
        assert "ASSUMED run sd 2 points" in line and f"{mdes[0]:.2f}/{mdes[1]:.2f} points" in line
    assert "- NO-GO — bloom-560m task_vs_baseline" in go and "needs 128/146 seeds" in go
    assert "- GO — bloom-560m adversarial_vs_standard" in go
    assert "run sd: ASSUMED — report.assumed_run_sd" in out and "2 (assumed)" in out
    notes = out.split("seeds@1\n")[1].split("Go / no-go")[0]
    for column in ("m:", "tasks:", "seeds:", "run sd:", "se runs, se items:", "MDE:", "power@1:", "seeds@1:"):
        assert column in notes, column
    undeclared = copy.deepcopy(STUDY)
    del undeclared["report"]["effect_of_interest"]
    assert "no report.effect_of_interest declared to decide go or no-go" in planning.format_plan(undeclared, "c")


def test_the_plan_totals_disk_against_free_space_and_prices_wall_clock(study_workdir, monkeypatch):
    parts = {m: n * planning.parameters(STUDY, m) for m, n in planning.checkpoints_kept(STUDY).items()}
    total = parts["bloom-560m"] * 4 + parts["bloom-1b7"] * 2  # fp32, and bloom-1b7's bf16
    assert f"total: {total / 1e9:,.1f} GB of checkpoints" in planning.format_plan(STUDY, "c")
    monkeypatch.setattr(planning, "free_bytes", lambda directory: 10 ** 13)
    assert re.search(r"free on the disk of results: 10,000.0 GB — enough$", planning.format_plan(STUDY, "c"), re.M)
    monkeypatch.setattr(planning, "free_bytes", lambda directory: 10 ** 12)
    assert f"1,000.0 GB — NOT ENOUGH: {(total - 1e12) / 1e9:,.1f} GB short" in planning.format_plan(STUDY, "c")
    # wall-clock: longest-first packing; one GPU runs every training job in turn
    assert planning.packed([3, 3, 2, 2, 2], 2) == 7 and planning.packed([5, 1, 1], 8) == 5
    jobs = planning.training_jobs(STUDY)
    one = sum(m for _, m in planning.wall_clock(STUDY, jobs, 1))
    assert one == pytest.approx(sum(j["minutes"] for j in jobs))
    eight, fifty = (sum(m for _, m in planning.wall_clock(STUDY, jobs, g)) for g in (8, 50))
    assert one / 8 <= eight < one / 7 and one / 50 <= fifty < eight
    phases = [name for name, _ in planning.wall_clock(STUDY, jobs, 8)]
    assert phases[:3] == ["selection", "calibration", "intermediate (wave 1)"] and "target (wave 3)" in phases
    assert planning.profile_jobs() == yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())["jobs"]
    assert f"on {planning.profile_jobs()} GPUs (the SLURM profile's `jobs:" in planning.format_plan(STUDY, "c")
    assert f"on 8 GPUs (--gpus 8): about {eight / 60:,.0f} hours" in planning.format_plan(STUDY, "c", gpus=8)


def test_budget_is_stated_and_a_design_over_it_warns(study_workdir):
    out = planning.format_plan(STUDY, "config.yaml")
    total = sum(j["minutes"] for j in planning.training_jobs(STUDY)) / 60
    assert total <= STUDY["study"]["budget_gpu_hours"] and "WARNING" not in out
    over = copy.deepcopy(STUDY)
    over["study"]["budget_gpu_hours"] = total / 2
    assert "WARNING: the design needs" in planning.format_plan(over, "config.yaml")


def test_checkpoint_disk_uses_the_published_parameter_count():
    assert planning.bloom_parameters(1024, 24, 250880) == 559_214_592  # bigscience/bloom-560m's card
    assert planning.bloom_parameters(4096, 30, 250880) == 7_069_016_064  # bloom-7b1
    assert planning.parameters(STUDY, "bloom-560m") == 559_214_592
    from xlt.workflow import selection

    assert planning.checkpoints_kept(STUDY)["bloom-560m"] == \
        sum(r["model"] == "bloom-560m" for r in [*planning.plan.intermediate_runs(STUDY), *selection.start_runs(STUDY)])
    # a larger Bloom trains at bloom-560m's tokens/min x 560m's parameters / its own
    from xlt.workflow.designs import view

    assert cluster.tokens_per_minute(view(STUDY, "bloom-1b7")) == pytest.approx(
        STUDY["cluster"]["tokens_per_minute"] * 559_214_592 / planning.parameters(STUDY, "bloom-1b7"))
    assert cluster.tokens_per_minute(view(STUDY, "bloom-560m"), {"gradient_checkpointing": True}) == \
        pytest.approx(STUDY["cluster"]["tokens_per_minute"] * 6 / 8)


def test_docs_plan_table_is_the_commands_output(study_workdir):
    """docs/study.md's table for the default study is `python -m xlt.analysis.planning` before featurisation."""
    out = subprocess.run([sys.executable, "-m", "xlt.analysis.planning", "--configfile", str(ROOT / "config.yaml")],
                         capture_output=True, text=True, check=True, cwd=study_workdir).stdout.strip()
    assert out.startswith("Plan of config.yaml")
    free = re.compile(r"^(free on the disk of results: ).*$", flags=re.M)  # this machine's free space
    assert len(free.findall(out)) == 1
    assert free.sub(r"\1…", out) in free.sub(r"\1…", (ROOT / "docs" / "study.md").read_text()), \
        "docs/study.md's plan table is stale: paste `python -m xlt.analysis.planning`"
    demo = subprocess.run([sys.executable, "-m", "xlt.analysis.planning", "--configfile", str(ROOT / "config/demo.yaml")],
                          capture_output=True, text=True, check=True, cwd=study_workdir).stdout
    assert "Plan of config/demo.yaml" in demo and "tiny-bloom" in demo


def test_waves_stop_once_the_declared_families_are_decided():
    """Seeds in waves priced by simulating the looks (xlt/analysis/wave_plan.py): bloom-1b7 declares one
    family (adversarial_vs_standard), so its later waves are skipped in some studies with no effect (an early
    `equivalent`) and in most with a large one; declaring task_vs_baseline too (8 tests, MDE >= 2.2 points
    even at 24 seeds) keeps every wave open with no effect — the issue this design answers (measured: maximum
    301 GPU-hours; one family: 285 with no effect, 122 with +3 points; both families: 296 with no effect)."""
    from xlt.analysis.wave_plan import expected_minutes
    from xlt.workflow.config import report_settings

    jobs = planning.training_jobs(STUDY)
    report = report_settings(STUDY)  # what the plan passes (the schema's defaults under the study's own)
    one = expected_minutes(STUDY, jobs, report, models=["bloom-1b7"])["bloom-1b7"]
    large = expected_minutes(STUDY, jobs, {**report, "effect_of_interest": 3.0}, models=["bloom-1b7"])["bloom-1b7"]
    both = copy.deepcopy(STUDY)
    both["study"]["models"]["bloom-1b7"]["confirmatory"] = ["adversarial_vs_standard", "task_vs_baseline"]
    kept = expected_minutes(both, planning.training_jobs(both), report, models=["bloom-1b7"])["bloom-1b7"]
    # no run sd to simulate with: the family stays open, its later waves priced in full (they once counted 0)
    blind = expected_minutes(STUDY, jobs, {**report, "assumed_run_sd": {}}, models=["bloom-1b7"])["bloom-1b7"]
    assert blind["no effect"] == blind["effect of interest"] > one["no effect"]
    print(f"\nbloom-1b7 GPU-hours, maximum {one['maximum'] / 60:.0f}: one family, no effect {one['no effect'] / 60:.0f}, "
          f"+1 {one['effect of interest'] / 60:.0f}, +3 {large['effect of interest'] / 60:.0f}; with task_vs_baseline "
          f"too, no effect {kept['no effect'] / 60:.0f}")
    assert one["no effect"] < 0.98 * one["maximum"] and large["effect of interest"] < 0.6 * one["maximum"]
    # task_vs_baseline is never decided: every wave runs (its standard arms and the baseline, at least)
    assert kept["no effect"] > one["no effect"] and kept["no effect"] > 0.97 * kept["maximum"]
    # which arms a later wave trains for an open family
    inter = {"task": "squad", "variant": "freelb"}
    base = {"inter": "none", "variant": "standard", "target": "tydiqa"}
    mnli_std = {"inter": "mnli", "variant": "standard", "target": "tydiqa"}
    targets = STUDY["study"]["targets"]
    assert planning.plan.family_needs("adversarial_vs_standard", inter, targets)
    assert not planning.plan.family_needs("adversarial_vs_standard", base, targets)
    assert planning.plan.family_needs("task_vs_baseline", base, targets)
    assert not planning.plan.family_needs("task_vs_baseline", inter, targets)
    assert planning.plan.family_needs("format_matched", inter, targets)  # SQuAD: a span task, TyDiQA's format
    assert not planning.plan.family_needs("format_matched", mnli_std, targets)  # MNLI -> TyDiQA: not matched
    assert planning.plan.family_needs("format_matched", {**mnli_std, "target": "paws_x"}, targets)


def test_target_checkpoints_cross_shared_storage_only_when_kept():
    """Each target run is trained and evaluated in one job, its checkpoint in the node's tmpdir: the plan's
    shared-storage bytes for target checkpoints are 0 by default, against the 5.3 TB (and 2,140 more
    cluster jobs) of evaluating in jobs of their own; study.keep_target_checkpoints writes them."""
    counts = planning.job_counts(STUDY)
    per_model = planning.target_checkpoints(STUDY)
    assert per_model == {"bloom-560m": (1708, 559_214_592 * 4), "bloom-1b7": (432, 1_722_408_960 * 2)}  # fp32 / bf16
    written = sum(n * b for n, b in per_model.values())
    assert 5.2e12 < written < 5.4e12 and planning.cluster_jobs(counts) == sum(counts.values()) - 25 - 2 - 1

    def rows(config):
        block = planning.format_plan(config, "config.yaml").split("Cluster jobs and target checkpoints")[1]
        return {m.group(1): (m.group(2), int(m.group(3).replace(",", ""))) for m in re.finditer(
            r"^evaluation (in a job of its own \(before\)|in the target job \(now\))\s+(.+?)\s{2,}([\d,]+)$", block, re.M)}

    got = rows(STUDY)
    assert got["in the target job (now)"] == ("0 B (node-local tmpdir, deleted)", planning.cluster_jobs(counts))
    assert got["in a job of its own (before)"] == ("5.3 TB written, read back by 2,140 evaluation jobs",
                                                   planning.cluster_jobs(counts) + 2140)
    kept = copy.deepcopy(STUDY)
    kept["study"]["keep_target_checkpoints"] = True
    assert rows(kept)["in the target job (now)"][0] == "5.3 TB written (study.keep_target_checkpoints)"
