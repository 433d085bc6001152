import numpy as np
import pandas as pd
import pytest

from xlt.comparisons import comparisons
from xlt.report import AVG, aggregate, example_scores, summary_markdown


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


def test_summary_states_every_confirmatory_result_and_labels_the_rest_exploratory():
    scores = _scores({("none", "standard"): 0.5, ("mnli", "standard"): 0.6, ("mnli", "fgm"): 0.7,
                      ("mnli", "smart"): 0.6, ("qqp", "standard"): 0.6, ("qqp", "fgm"): 0.6, ("qqp", "smart"): 0.6})
    comps = comparisons(scores, 1000, 0, effect_of_interest=1.0).assign(target="paws_x", metric="accuracy")
    matrix = scores.groupby(["model", "intermediate", "variant", "seed", "language"])["value"].mean().reset_index()
    matrix = matrix.assign(target="paws_x", stage="target", metric="accuracy", value=matrix["value"] / 100)
    text = summary_markdown(aggregate(matrix), {"paws_x": comps}, {"paws_x": ["en", "de", "ja"]}, 1000, False,
                            {"alpha": 0.05, "effect_of_interest": 1.0,
                             "confirmatory": ["adversarial_vs_standard", "task_vs_baseline"]})
    assert "## Answer (confirmatory)" in text and "## Exploratory (not pre-registered)" in text
    assert "| fgm |" in text and "| smart |" in text  # every member of the family, not only the best
    assert "| mnli |" in text and "| qqp |" in text
    assert "unadjusted" in text and "MDE" in text
    assert "seeds per run" in text or "significantly" in text
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
