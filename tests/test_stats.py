import time

import numpy as np
import pytest

from xlt.stats import bootstrap_means, ci_and_p, holm


def test_holm_matches_hand_worked_example():
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])



def test_bootstrap_ci_covers_a_planted_effect_and_detects_it():
    rng = np.random.default_rng(0)
    a = (rng.random(4000) < 0.65).astype(float)
    true_delta = 0.05
    b = a.copy()
    flip = rng.choice(np.flatnonzero(a == 1), size=int(true_delta * 4000), replace=False)
    b[flip] = 0.0  # system B misses exactly 5% more examples
    reps = bootstrap_means(np.stack([a, b]), 2000, np.random.default_rng(1))
    delta = a.mean() - b.mean()
    lo, hi, p = ci_and_p(delta, reps[0] - reps[1])
    assert delta == pytest.approx(true_delta)
    assert lo < true_delta < hi and lo > 0 and p < 0.01


def test_false_positive_rate_under_no_effect_is_near_five_percent():
    rng = np.random.default_rng(2)
    rejections, trials = 0, 200
    for _ in range(trials):
        # two systems with the same accuracy, correlated per example, no true difference
        truth = rng.random(500) < 0.7
        a = np.where(rng.random(500) < 0.8, truth, ~truth).astype(float)
        b = np.where(rng.random(500) < 0.8, truth, ~truth).astype(float)
        reps = bootstrap_means(np.stack([a, b]), 400, rng)
        rejections += ci_and_p(a.mean() - b.mean(), reps[0] - reps[1])[2] < 0.05
    rate = rejections / trials
    print(f"\nfalse-positive rate at alpha 0.05 over {trials} null comparisons: {rate:.3f}")
    assert 0.01 <= rate <= 0.10


def test_ten_thousand_replicates_over_five_thousand_examples_take_seconds():
    scores = np.random.default_rng(0).random((20, 5000))
    t0 = time.perf_counter()
    reps = bootstrap_means(scores, 10_000, np.random.default_rng(0))
    elapsed = time.perf_counter() - t0
    print(f"\n10,000 replicates x 5,000 examples x 20 systems: {elapsed:.2f} s")
    assert reps.shape == (20, 10_000)
    np.testing.assert_allclose(reps.mean(1), scores.mean(1), atol=2e-3)
