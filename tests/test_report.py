from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xlt.analysis.comparisons import comparisons
from xlt.analysis.report import AVG, aggregate, example_scores, summary_markdown
from xlt.workflow.config import report_config


def _scores(systems: dict, n=600, seeds=(1, 2), langs=("en", "de", "ja")):
    """Per-example 0/100 scores; `systems` maps (inter, variant) -> accuracy."""
    rng = np.random.default_rng(0)
    rows = []
    for lang in langs:
        difficulty = rng.random(n)
        for (inter, variant), acc in systems.items():
            for seed in seeds:
                noise = rng.random(n) * 0.1
                correct = (difficulty + noise) < acc
                rows += [{"model": "m", "intermediate": inter, "variant": variant, "seed": seed, "language": lang,
                          "example_id": f"{lang}-{i}", "metric": "accuracy", "value": 100.0 * c}
                         for i, c in enumerate(correct)]
    return pd.DataFrame(rows)


def test_comparisons_detect_a_planted_adversarial_gain_and_not_a_null():
    scores = _scores({("none", "standard"): 0.5, ("mnli", "standard"): 0.6, ("mnli", "fgm"): 0.7,
                      ("qqp", "standard"): 0.6, ("qqp", "fgm"): 0.6})
    comps = comparisons(scores, 2000, 0, groups={"seen": ["de"], "unseen": ["ja", "xx"]})
    get = lambda kind, inter, variant, lang: comps[(comps["kind"] == kind) & (comps["intermediate"] == inter)
                                                  & (comps["variant"] == variant) & (comps["language"] == lang)].iloc[0]
    gain = get("vs_standard", "mnli", "fgm", AVG)
    assert 5 < gain["delta"] < 15 and gain["ci_low"] > 0 and gain["p"] < 0.01
    assert gain["family"] == "exploratory" and np.isnan(gain["p_adj"])  # per task x variant: exploratory
    null = get("vs_standard", "qqp", "fgm", AVG)
    assert null["ci_low"] < 0 < null["ci_high"] or abs(null["delta"]) < 1
    pooled = get("pooled_vs_standard", "all tasks", "fgm", AVG)
    assert pooled["delta"] == pytest.approx((gain["delta"] + null["delta"]) / 2)
    assert pooled["family"] == "adversarial_vs_standard" and pooled["family_size"] == 1 and pooled["mde"] > 0
    task = get("vs_baseline", "mnli", "standard", AVG)
    assert task["family"] == "task_vs_baseline" and task["family_size"] == 2 and task["p_adj"] < 0.05
    assert get("vs_baseline", "mnli", "fgm", AVG)["family"] == "exploratory"
    assert get("vs_baseline", "mnli", "standard", "de")["family"] == "exploratory"
    # language groups: averages of their non-English members present in the data
    de = get("system", "mnli", "standard", "de")["delta"]
    assert get("system", "mnli", "standard", "avg:seen")["delta"] == pytest.approx(de)
    assert set(comps["language"]) == {"en", "de", "ja", AVG, "avg:seen", "avg:unseen"}
    # two seeds per system: the run part of the uncertainty is estimated
    assert (comps["seeds"] == 2).all() and (comps["se_runs"] > 0).all()


def _two_target_comparisons(**options):
    systems = {("none", "standard"): 0.5, ("mnli", "standard"): 0.6, ("mnli", "fgm"): 0.7, ("mnli", "smart"): 0.6,
               ("qqp", "standard"): 0.6, ("qqp", "fgm"): 0.6, ("qqp", "smart"): 0.6}
    scores = _scores(systems)
    frames = [comparisons(scores, 500, 0, effect_of_interest=1.0, **options).assign(target=t, metric="accuracy")
              for t in ("paws_x", "tydiqa")]
    return scores, pd.concat(frames, ignore_index=True)


def test_holm_runs_across_both_targets_and_every_endpoint_of_a_family():
    from xlt.analysis.comparisons import adjust_families

    _, comps = _two_target_comparisons(groups={"seen": ["de"]}, endpoints=("avg-xx", "avg:seen"))
    joint = adjust_families(comps, 0.05, 0.8, 1.0, 1.0)
    adv = joint[joint["family"] == "adversarial_vs_standard"]
    # 2 variants x 2 targets x 2 endpoints, adjusted together; a test's Holm p only grows with the family
    assert len(adv) == 8 and (adv["family_size"] == 8).all()
    per_target = comps[comps["family"] == "adversarial_vs_standard"]
    assert (per_target["family_size"] == 4).all()
    assert (adv["p_adj"].to_numpy() >= per_target["p_adj"].to_numpy() - 1e-12).all()
    assert set(adv["verdict"]) <= {"improves", "harms", "equivalent", "inconclusive"}
    assert (joint.loc[joint["family"] == "exploratory", "verdict"] == "").all()
    # a planted +10 points on mnli/fgm: the pooled fgm test improves; smart (no effect) does not
    fgm = adv[(adv["variant"] == "fgm")]
    assert (fgm["verdict"] == "improves").all() and (adv[adv["variant"] == "smart"]["verdict"] != "improves").all()


def test_a_primary_target_makes_the_other_exploratory(tmp_path):
    from xlt.steps.report import analyse

    scores, _ = _two_target_comparisons()
    both = pd.concat([scores.assign(target=t) for t in ("paws_x", "tydiqa")], ignore_index=True)
    both.loc[both["target"] == "tydiqa", "metric"] = "f1"
    cfg = report_config({"report": {"confirmatory": ["adversarial_vs_standard", "task_vs_baseline"],
                                    "effect_of_interest": 1.0}})  # what the rule passes: the schema's defaults filled
    comps, variances = analyse(both, 300, 0, cfg, {})
    assert (comps[comps["family"] == "adversarial_vs_standard"]["family_size"] == 4).all()
    assert set(variances["grouping"]) == {"variant", "task"}
    comps, _ = analyse(both, 300, 0, {**cfg, "primary_target": "paws_x"}, {})
    conf = comps[comps["family"] != "exploratory"]
    assert set(conf["target"]) == {"paws_x"} and (conf[conf["family"] == "adversarial_vs_standard"]["family_size"] == 2).all()


def test_summary_opens_with_one_answer_per_question_and_words_each_verdict():
    scores, comps = _two_target_comparisons()
    from xlt.analysis.comparisons import adjust_families

    comps = adjust_families(comps, 0.05, 0.8, 1.0, 1.0)
    matrix = scores.groupby(["model", "intermediate", "variant", "seed", "language"])["value"].mean().reset_index()
    matrix = pd.concat([matrix.assign(target=t, stage="target", metric=m, value=matrix["value"] / 100)
                        for t, m in (("paws_x", "accuracy"), ("tydiqa", "f1"))])
    cfg = report_config({"report": {"alpha": 0.05, "effect_of_interest": 1.0, "equivalence_margin": 1.0,
                                    "confirmatory": ["adversarial_vs_standard", "task_vs_baseline"]}})
    targets = {"paws_x": ["en", "de", "ja"], "tydiqa": ["en", "de", "ja"]}
    check = {"hash": "ab" * 32, "declared_at": "2026-12-02T00:00:00Z", "amendments": []}
    text = summary_markdown(aggregate(matrix), {t: comps[comps["target"] == t] for t in targets}, targets, 500,
                            False, cfg, preregistration=check)
    first = text.split("## Answer (confirmatory)")[0]
    assert "**Does adversarial intermediate training change transfer vs standard?** **improves**" in first
    assert "**Does an English intermediate task change transfer vs none?**" in first and "|" not in first
    assert "`fgm` improves paws_x accuracy" in text and "Declared before results (hash `abababababab`" in text
    assert "| fgm |" in text and "| smart |" in text and "| mnli |" in text and "| qqp |" in text
    assert "unadjusted" in text and "MDE" in text and "Pre-registered in" not in text
    amended = {**check, "amendments": [{"key": "report.equivalence_margin", "declared": 1.0, "current": 0.5}]}
    text = summary_markdown(aggregate(matrix), {t: comps[comps["target"] == t] for t in targets}, targets, 500,
                            False, cfg, preregistration=amended, now="2026-12-03T00:00:00Z")
    assert "**Amended after the declaration**" in text and "`report.equivalence_margin`: declared 1.0, now 0.5" in text


def test_an_inconclusive_answer_says_its_ci_spans_the_margin():
    from xlt.analysis.report import family_answer

    rows = pd.DataFrame([{"label": "fgm", "target": "paws_x", "language": "avg-xx", "delta": 0.6, "ci_low": -0.8,
                          "ci_high": 2.1, "p_adj": 0.4, "verdict": "inconclusive"},
                         {"label": "pgd", "target": "paws_x", "language": "avg-xx", "delta": 0.1, "ci_low": -0.4,
                          "ci_high": 0.5, "p_adj": 0.9, "verdict": "equivalent"}])
    text = family_answer("adversarial_vs_standard", rows, 1.0)
    assert text.startswith("**inconclusive**") and "the CI -0.80 to +2.10 spans the ±1 margin" in text
    assert family_answer("adversarial_vs_standard", rows.iloc[1:], 1.0).startswith("**equivalent**")


def test_the_preregistration_lists_every_amended_key(tmp_path):
    import yaml

    from pathlib import Path

    from xlt.analysis import preregistration

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "demo.yaml").read_text())
    path = tmp_path / "preregistration.json"
    record = preregistration.write(config, str(path))
    assert record["hash"] == preregistration.digest(preregistration.declaration(config))
    assert preregistration.check(str(path), preregistration.declaration(config))["amendments"] == []
    config["report"]["equivalence_margin"] = 0.5
    config["study"]["seeds"] = [*config["study"]["seeds"], 99]
    keys = [a["key"] for a in preregistration.check(str(path), preregistration.declaration(config))["amendments"]]
    assert keys == ["report.equivalence_margin", "study.seeds"]


def test_aggregate_gap_and_deltas():
    matrix = pd.DataFrame([
        {"model": "m", "intermediate": i, "variant": v, "target": "paws_x", "seed": s, "language": lang,
         "stage": "target", "metric": "accuracy", "value": val + 0.01 * s, "n_examples": 10}
        for (i, v, base) in (("none", "standard", 0.5), ("mnli", "standard", 0.6), ("mnli", "fgm", 0.65))
        for s in (1, 2) for lang, val in (("en", base + 0.2), ("de", base), ("ja", base - 0.1))])
    agg = aggregate(matrix).set_index(["intermediate", "variant", "language"])
    assert agg.loc[("mnli", "standard", "avg-xx"), "mean"] == pytest.approx(100 * (0.55 + 0.015))
    assert agg.loc[("mnli", "standard", "gap"), "mean"] == pytest.approx(25.0)
    assert agg.loc[("mnli", "fgm", "de"), "delta_vs_standard"] == pytest.approx(5.0)
    assert agg.loc[("mnli", "standard", "en"), "delta_vs_baseline"] == pytest.approx(10.0)
    assert agg.loc[("mnli", "standard", "en"), "seeds"] == 2


def test_example_scores_follow_the_official_definitions():
    ex = pd.DataFrame({"id": ["a", "b"], "answer_texts": [["The Cat"], ["x", "y z"]]})
    s = example_scores({"a": "cat", "b": "y"}, ex, "tydiqa").set_index(["example_id", "metric"])["value"]
    assert s[("a", "exact_match")] == 100 and s[("b", "exact_match")] == 0
    assert s[("b", "f1")] == pytest.approx(100 * 2 / 3)


def test_the_matrix_job_names_the_input_it_cannot_read_and_prints_points(tmp_path):
    """A truncated metrics JSON among the matrix job's inputs stops it naming that file; the printed
    pivot is in points for every metric (accuracy is stored as a fraction, F1 in points)."""
    import json
    import re

    from xlt.analysis.matrix import format_pivot
    from xlt.steps.report import build_matrix

    files = []
    for target, metric, value in (("paws_x", "accuracy", 0.625), ("tydiqa", "f1", 8.472)):
        for lang in ("en", "de"):
            path = tmp_path / "eval" / target / f"{lang}.metrics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"model": "m", "intermediate": "none", "variant": "standard", "target": target,
                                        "seed": 1, "language": lang, "n_examples": 10, "metrics": {metric: value}},
                                       indent=1))
            files.append(str(path))
    build_matrix(files, [], str(tmp_path / "m.parquet"), str(tmp_path / "m.csv"))
    text = format_pivot(str(tmp_path / "m.parquet"))
    assert "62.5" in text and "8.5" in text and "0.625" not in text and "0.6" not in text.split()
    broken = files[2]
    Path(broken).write_text(Path(broken).read_text()[:40])  # a full disk cut it
    with pytest.raises(ValueError, match=re.escape(f"cannot read {broken} (JSONDecodeError")) as err:
        build_matrix(files, [], str(tmp_path / "m2.parquet"), str(tmp_path / "m2.csv"))
    assert "--forcerun" in str(err.value)
    assert not (tmp_path / "m2.parquet").exists() and not (tmp_path / "m2.csv").exists()  # nothing half-written
