"""The statistics' specification, proven by simulated studies with known truth (xlt/simulation.py):
family-wise error under no effect, power for a planted effect, MDE calibration, translation clusters,
seed-level uncertainty, and speed at the study's shape."""
import gc
import time

import numpy as np
import pandas as pd
import pytest

from xlt.comparisons import AVG, comparisons, comparisons_from_design
from xlt.simulation import simulate
from xlt.stats import ItemDesign, contrast, holm, two_level_bootstrap

PAWS = ["en", "de", "es", "fr", "ja", "ko", "zh"]
STUDY_TASKS = [f"t{i}" for i in range(9)] + ["multitask"]
STUDY_VARIANTS = ["standard", "fgm", "pgd", "freelb", "smart", "r3f"]


@pytest.fixture(autouse=True, scope="module")
def _frozen_gc():
    # statsmodels' Holm calls gc.collect(); freezing the heap built so far keeps that cheap in loops
    gc.freeze()
    yield
    gc.unfreeze()


def _confirmatory(c, family):
    return c[c["family"] == family]


def test_holm_matches_hand_worked_example():
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_no_true_effect_keeps_the_family_wise_error_rate(capsys):
    """300 simulated studies, no effect anywhere, run-to-run variation 2 points (shared across languages):
    each confirmatory family rejects anything in <= 8% of studies (nominal 5%)."""
    rng = np.random.default_rng(0)
    studies, any_rejection = 300, {"adversarial_vs_standard": 0, "task_vs_baseline": 0}
    t0 = time.perf_counter()
    for k in range(studies):
        design = simulate(rng, ["t0", "t1", "t2", "t3"], ["standard", "a1", "a2"], 3, ["en", "de", "es", "fr"],
                          300, run_sd=2.0)
        c = comparisons_from_design(*design, replicates=300, seed=k)
        for family in any_rejection:
            any_rejection[family] += bool((_confirmatory(c, family)["p_adj"] < 0.05).any())
    rates = {f: n / studies for f, n in any_rejection.items()}
    with capsys.disabled():
        print(f"\nfamily-wise false-positive rate over {studies} null studies (run sd 2 points): {rates} "
              f"({time.perf_counter() - t0:.1f} s)")
    assert all(rate <= 0.08 for rate in rates.values()), rates


def test_the_old_estimator_would_have_failed_this_bar():
    """Control: ignoring run-to-run variation (seeds averaged per example, items only) on the same null
    studies rejects far more often than 5% — the failure issue 11 measured."""
    rng = np.random.default_rng(0)
    studies, rejections = 40, 0
    for k in range(studies):
        systems, run_system, tables, design = simulate(rng, ["t0", "t1", "t2", "t3"], ["standard", "a1", "a2"], 3,
                                                       ["en", "de", "es", "fr"], 300, run_sd=2.0)
        n = len(systems)
        averaged = {lang: np.stack([x[run_system == s].mean(0) for s in range(n)]) for lang, x in tables.items()}
        c = comparisons_from_design(systems, np.arange(n), averaged, design, replicates=300, seed=k)
        rejections += bool((_confirmatory(c, "adversarial_vs_standard")["p_adj"] < 0.05).any())
    assert rejections / studies > 0.2


def _study(rng, run_sd, effect):
    return simulate(rng, STUDY_TASKS, STUDY_VARIANTS, 3, PAWS, 2000, run_sd=run_sd, task_effect={"t0": effect})


def test_a_planted_five_point_task_effect_is_found_at_the_study_shape(capsys):
    """61 systems x 3 seeds, 7 languages x 2,000 translated pairs, run-to-run variation 1 point: a +5-point
    effect of one intermediate task on every language is found (Holm p < 0.05) in >= 90% of 50 studies."""
    rng = np.random.default_rng(1)
    found, mdes = 0, []
    for k in range(50):
        c = comparisons_from_design(*_study(rng, 1.0, 5.0), replicates=200, seed=k)
        row = c[(c["family"] == "task_vs_baseline") & (c["intermediate"] == "t0")].iloc[0]
        found += row["p_adj"] < 0.05
        mdes.append(row["mde"])
    with capsys.disabled():
        print(f"\n+5-point task effect found in {found}/50 studies (run sd 1 point; mean MDE {np.mean(mdes):.2f})")
    assert found >= 45


def test_the_minimum_detectable_effect_means_what_it_says(capsys):
    """With run-to-run variation of 2 points, plant an effect equal to the MDE the report prints: it is
    found in about 80% of studies (the MDE's power), not in all and not rarely."""
    rng = np.random.default_rng(2)
    mde = np.mean([comparisons_from_design(*_study(rng, 2.0, 0.0), replicates=200, seed=k)
                   .query("family == 'task_vs_baseline'")["mde"].mean() for k in range(3)])
    found = sum(comparisons_from_design(*_study(rng, 2.0, mde), replicates=200, seed=k)
                .query("family == 'task_vs_baseline' and intermediate == 't0'")["p_adj"].iloc[0] < 0.05
                for k in range(40))
    with capsys.disabled():
        print(f"\nMDE at 3 seeds, run sd 2 points: {mde:.2f} points; an effect of that size found in {found}/40")
    assert 5.0 < mde < 7.5  # a 5-point effect is *not* reliably detectable with 3 seeds at this run variation
    assert 24 <= found <= 38


def test_translations_resampled_together_widen_the_language_average_ci():
    """A system x pair interaction shared by a pair's translations (planted): resampling pairs jointly
    across languages gives the non-English average a wider CI than resampling each language alone —
    and without the planted correlation, about the same CI."""
    ratio = {}
    for planted in (0.0, 30.0):
        rng = np.random.default_rng(3)
        systems, run_system, tables, design = simulate(rng, ["t0"], ["standard"], 1, PAWS, 1000, run_sd=0.0,
                                                       interaction_sd=planted)
        se = {}
        for item_design in ("clustered", "independent"):
            c = comparisons_from_design(systems, run_system, tables, design, replicates=2000, seed=0,
                                        item_design=item_design)
            se[item_design] = c[(c["kind"] == "vs_baseline") & (c["language"] == AVG)]["se"].iloc[0]
        ratio[planted] = se["clustered"] / se["independent"]
    assert ratio[30.0] > 1.3 and 0.9 < ratio[0.0] < 1.1, ratio
    assert design.independent().n_clusters == {lang: 1000 for lang in PAWS}


def test_run_level_uncertainty_is_pooled_across_systems_and_absent_with_one_seed():
    rng = np.random.default_rng(4)
    systems, run_system, tables, design = simulate(rng, ["t0", "t1"], ["standard", "a1"], 3, ["en", "de"], 200,
                                                   run_sd=3.0)
    boot = two_level_bootstrap(tables, run_system, design, 2000, np.random.default_rng(0))
    assert boot.run_df == len(systems) * 2
    # the run part of one system's mean ~ pooled run variance / 3 (truth: 3^2 / 3 = 3 points^2)
    c = contrast(boot, {0: 1.0}, "de")
    assert 1.0 < c.var_runs < 6.0 and c.df > 10
    one_seed = {lang: x[::3] for lang, x in tables.items()}
    boot1 = two_level_bootstrap(one_seed, np.arange(len(systems)), design, 500, np.random.default_rng(0))
    assert boot1.run_df == 0 and contrast(boot1, {0: 1.0, 1: -1.0}, "de").var_runs == 0


def _scores_frame(systems, run_system, tables, metric="accuracy"):
    frames = []
    for lang, x in tables.items():
        runs, items = x.shape
        seeds = np.concatenate([np.arange(1, (run_system == s).sum() + 1) for s in range(len(systems))])
        frames.append(pd.DataFrame({
            "model": np.repeat([systems[s][0] for s in run_system], items),
            "intermediate": np.repeat([systems[s][1] for s in run_system], items),
            "variant": np.repeat([systems[s][2] for s in run_system], items),
            "seed": np.repeat(seeds, items), "language": lang,
            "example_id": np.tile([f"{lang}-test-{i}" for i in range(items)], runs),
            "metric": metric, "value": x.ravel()}))
    return pd.concat(frames, ignore_index=True)


def test_the_statistics_job_at_the_studys_shape_takes_well_under_a_minute(capsys):
    """61 systems x 3 seeds; PAWS-X 7 x 2,000 items; TyDiQA 5,077 items over 9 languages (F1 in [0, 100]);
    10,000 replicates each, from per-example score frames as the statistics job reads them."""
    rng = np.random.default_rng(5)
    paws = _scores_frame(*simulate(rng, STUDY_TASKS, STUDY_VARIANTS, 3, PAWS, 2000, run_sd=2.0)[:3])
    tydiqa_sizes = {"en": 440, "ar": 921, "bn": 113, "fi": 782, "id": 565, "ko": 276, "ru": 812, "sw": 499, "te": 669}
    frames = []
    for lang, n in tydiqa_sizes.items():
        systems, run_system, tables, _ = simulate(rng, STUDY_TASKS, STUDY_VARIANTS, 3, [lang], n, run_sd=2.0)
        f1 = tables[lang] * rng.random(tables[lang].shape)  # continuous scores
        frames.append(_scores_frame(systems, run_system, {lang: f1}, "f1"))
    tydiqa = pd.concat(frames, ignore_index=True)
    times = {}
    for name, scores, parallel in (("paws_x", paws, True), ("tydiqa", tydiqa, False)):
        t0 = time.perf_counter()
        c = comparisons(scores, 10_000, 0, parallel=parallel, effect_of_interest=1.0,
                        groups={"in_pretraining": ["es", "fr", "zh", "ar", "bn", "id", "sw", "te"]})
        times[name] = time.perf_counter() - t0
        assert len(_confirmatory(c, "adversarial_vs_standard")) == 5 and len(_confirmatory(c, "task_vs_baseline")) == 10
    with capsys.disabled():
        print("\nstatistics at the study's shape, 10,000 replicates: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    assert sum(times.values()) < 60


def test_items_of_an_independent_test_set_are_resampled_per_language():
    ids = {"en": ["a", "b"], "ar": ["c", "d", "e"]}
    d = ItemDesign.build(ids)
    assert d.n_clusters == {"en": 2, "ar": 3} and d.items["ar"][0] == "ar"
    joint = ItemDesign.build({"en": ["en-test-1", "en-test-2"], "de": ["de-test-2", "de-test-1"]},
                             lambda i, lang: i.replace(f"{lang}-", ""))
    assert joint.n_clusters == {"all": 2}
    assert list(joint.items["de"][1]) == [1, 0]  # de's first item is the translation of en's second
