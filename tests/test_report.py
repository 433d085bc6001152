import numpy as np
import pandas as pd
import pytest

from xlt.report import AVG, aggregate, comparisons, example_scores


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
    comps = comparisons(scores, 2000, 0)
    get = lambda kind, inter, variant, lang: comps[(comps["kind"] == kind) & (comps["intermediate"] == inter)
                                                  & (comps["variant"] == variant) & (comps["language"] == lang)].iloc[0]
    gain = get("vs_standard", "mnli", "fgm", AVG)
    assert 5 < gain["delta"] < 15 and gain["ci_low"] > 0 and gain["p_holm"] < 0.01
    null = get("vs_standard", "qqp", "fgm", AVG)
    assert null["ci_low"] < 0 < null["ci_high"] or abs(null["delta"]) < 1
    pooled = get("pooled_vs_standard", "all tasks", "fgm", AVG)
    assert pooled["delta"] == pytest.approx((gain["delta"] + null["delta"]) / 2)
    assert get("vs_baseline", "mnli", "standard", "de")["p_holm"] < 0.05


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
