"""Seeds in waves (xlt/analysis/sequential.py): the Lan-DeMets boundaries against known values, and simulated
studies analysed look by look as the interim checkpoint does — family-wise false positives across all
looks, power at +1 point and the expected number of seeds against the fixed design of the same maximum.
Each simulation prints its rates with Wilson 95% intervals."""
import gc
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from statsmodels.stats.proportion import proportion_confint

from xlt.analysis.comparisons import AVG, adjust_families, comparisons_from_design
from xlt.analysis.sequential import (_continue_probability, apply_looks, boundaries, family_decisions, final_look,
                            look_levels, look_record, nominal_levels, spent, wave_fractions)
from xlt.analysis.simulation import simulate


def _corr(t):
    t = np.asarray(t, dtype=float)
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


@pytest.mark.parametrize("looks, c", [(2, 2.178), (3, 2.289), (5, 2.413)])
def test_the_integrator_gives_classic_pocock_boundaries_their_alpha(looks, c):
    """Pocock's constant boundaries (Pocock 1977; Jennison & Turnbull 2000, Table 2.1: 2.178, 2.289,
    2.413 for 2, 3, 5 equally spaced looks at two-sided 0.05; nominal 0.0294 at 2 looks) reject with
    probability 0.05 under the joint normal of the looks."""
    t = np.arange(1, looks + 1) / looks
    assert 1 - _continue_probability([c] * looks, _corr(t)) == pytest.approx(0.05, abs=3e-4)
    if looks == 2:
        assert 2 * st.norm.sf(c) == pytest.approx(0.0294, abs=1e-4)


@pytest.mark.parametrize("looks, c", [(2, 1.977), (3, 2.004), (5, 2.040)])
def test_the_integrator_gives_classic_obrien_fleming_boundaries_their_alpha(looks, c):
    """O'Brien-Fleming's boundaries c sqrt(K / k) (J&T Table 2.3: c = 1.977, 2.004, 2.040; at 2 looks
    nominal ~0.0052 then ~0.048) reject with probability 0.05."""
    t = np.arange(1, looks + 1) / looks
    assert 1 - _continue_probability(list(c / np.sqrt(t)), _corr(t)) == pytest.approx(0.05, abs=3e-4)


def test_lan_demets_boundaries_spend_what_the_functions_say():
    # Pocock-type spending, 5 equal looks: DeMets & Lan (1994) 2.438, 2.427, 2.410, 2.397, 2.388
    assert boundaries(np.arange(1, 6) / 5, 0.05, "pocock") == pytest.approx([2.438, 2.427, 2.410, 2.397, 2.388],
                                                                             abs=4e-3)
    # O'Brien-Fleming type: the first look spends 2 - 2 Phi(1.96 / sqrt(t)), so its boundary is 1.96 / sqrt(t)
    two = boundaries([0.5, 1.0], 0.05, "obf")
    assert two[0] == pytest.approx(1.95996 / np.sqrt(0.5), abs=1e-4)
    levels = nominal_levels([0.5, 1.0], 0.05, "obf")
    assert levels[0] == pytest.approx(0.00557, abs=1e-4) and 0.047 < levels[1] < 0.049  # vs classic 0.0052, 0.048
    assert nominal_levels([0.5, 1.0], 0.05, "pocock") == pytest.approx([0.0310, 0.0277], abs=2e-4)  # classic 0.0294
    # Monte-Carlo check of the spending at 3 looks: first crossing at look k with the stated probabilities
    rng = np.random.default_rng(0)
    t = np.array([1 / 3, 2 / 3, 1.0])
    for kind in ("obf", "pocock"):
        c = boundaries(t, 0.05, kind)
        z = np.cumsum(rng.normal(size=(400_000, 3)), axis=1) / np.sqrt(np.arange(1, 4))  # independent increments
        crossed = np.abs(z) >= c
        first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
        got = np.cumsum([(first == k).mean() for k in range(3)])
        assert got == pytest.approx(spent(t, 0.05, kind), abs=1.5e-3), kind
    assert look_levels([[1, 2]], 0.05) == [0.05]  # one wave: the fixed design
    assert wave_fractions([[1, 2, 3], [4, 5, 6], [7, 8, 9, 10]]) == pytest.approx([0.3, 0.6, 1.0])


def test_a_family_decided_early_keeps_its_look_and_the_others_get_the_last_look():
    rows = []
    for family, name, p, eq in [("adversarial_vs_standard", "a1", 1e-6, 0.5), ("task_vs_baseline", "t0", 0.4, 0.3)]:
        rows.append(dict(kind="x", family=family, model="m", intermediate=name if family == "task_vs_baseline" else "all tasks",
                         variant=name if family != "task_vs_baseline" else "standard", reference="", language=AVG,
                         delta=2.0, se=0.3, se_items=0.3, se_runs=0.0, df=50.0, df_items=100.0, df_runs=0.0,
                         ci_low=1.4, ci_high=2.6, p=p, p_tost=eq, seeds=2, target="paws_x"))
    comps = adjust_families(pd.DataFrame(rows), 0.05, 0.8, None, 1.0)
    waves = [[1], [2]]
    levels = look_levels(waves)
    first = look_record(adjust_families(comps, levels[0], 0.8, None, 1.0), 1, waves, levels, "obf")
    decided = {f["family"]: f["decided"] for f in first["families"]}
    assert decided == {"adversarial_vs_standard": True, "task_vs_baseline": False} and first["continue"]
    assert final_look([first], 2) == 2 and final_look([{**first, "continue": False}], 2) == 1
    final = comps.assign(verdict=["harms", "inconclusive"])  # the later data would say otherwise
    out = apply_looks(final, [first], 2, levels)
    adv = out[out["family"] == "adversarial_vs_standard"].iloc[0]
    assert adv["verdict"] == "improves" and adv["look"] == 1 and adv["level"] == pytest.approx(levels[0])
    task = out[out["family"] == "task_vs_baseline"].iloc[0]
    assert task["verdict"] == "inconclusive" and task["look"] == 2


# ---- simulated studies, analysed look by look ----

LANGS = ["en", "de", "fr"]
TASKS, VARIANTS = ["t0", "t1", "t2"], ["standard", "a1", "a2"]
WAVES = [[1, 2], [3, 4], [5, 6]]
FAMILIES = ("adversarial_vs_standard", "task_vs_baseline")


def _wilson(k: int, n: int) -> tuple[float, float]:
    return tuple(round(float(x), 3) for x in proportion_confint(k, n, method="wilson"))


def _looks(rng, k, tasks=TASKS, variants=VARIANTS, pairs=400, confirmatory=FAMILIES, **kw):
    """One simulated study's comparisons at each look (the runs of waves <= look); Holm p-values do not
    depend on the level, so every design is read off the same analyses."""
    systems, run_system, tables, design = simulate(rng, tasks, variants, 6, LANGS, pairs, **kw)
    index = np.concatenate([np.arange(n) for n in np.bincount(run_system)])  # run j of a system = seed j + 1
    out = []
    for seeds in np.cumsum([len(w) for w in WAVES]):
        keep = index < seeds
        out.append(comparisons_from_design(systems, run_system[keep], {lg: t[keep] for lg, t in tables.items()},
                                           design, replicates=100, seed=k, columns=[AVG],
                                           confirmatory=confirmatory).assign(target="sim"))
    return out


def _sequential(looks, levels):
    """As the workflow decides: per family, the verdicts of the first look that decides it (else the last
    look's), whether any look up to then rejected a test, and the look the study ended at."""
    per_look = [{f["family"]: f for f in family_decisions(adjust_families(c, a, 0.8, None, 1.0))}
                for c, a in zip(looks, levels)]
    answer, rejected, end = {}, {}, len(looks)
    for k, fams in enumerate(per_look, 1):
        for name, fam in fams.items():
            if name in answer:
                continue
            rejected[name] = rejected.get(name, False) or any(t["verdict"] in ("improves", "harms") for t in fam["tests"])
            if fam["decided"] or k == len(looks):
                answer[name] = (k, {t["variant"] if name == "adversarial_vs_standard" else t["intermediate"]: t["verdict"]
                                    for t in fam["tests"]})
        if len(answer) == len(fams):
            end = k
            break
    return answer, rejected, end


@pytest.fixture(autouse=True, scope="module")
def _frozen_gc():
    gc.freeze()
    yield
    gc.unfreeze()


def test_no_true_effect_keeps_the_family_wise_error_across_all_looks(capsys):
    """Null studies (10 systems x 6 seeds in 3 waves of 2, 3 translated languages x 400 items, run sd 1):
    a family counts as a false positive when any of its tests is called improves/harms at any look up to
    the one that decides it. Both spending functions keep the rate at alpha within Monte-Carlo error."""
    rng = np.random.default_rng(17)
    studies = 200
    designs = {kind: look_levels(WAVES, 0.05, kind) for kind in ("obf", "pocock")}
    hits = {kind: dict.fromkeys(FAMILIES, 0) for kind in designs}
    seeds = {kind: 0 for kind in designs}
    t0 = time.perf_counter()
    for k in range(studies):
        looks = _looks(rng, k, run_sd=1.0)
        for kind, levels in designs.items():
            _, rejected, end = _sequential(looks, levels)
            seeds[kind] += sum(len(w) for w in WAVES[:end])
            for family in FAMILIES:
                hits[kind][family] += rejected[family]
    with capsys.disabled():
        for kind in designs:
            print(f"\n[sequential, {kind}, levels {np.round(designs[kind], 4).tolist()}] family-wise false positives "
                  f"across all looks over {studies} null studies: "
                  + ", ".join(f"{f} {hits[kind][f] / studies:.3f} (95% CI {_wilson(hits[kind][f], studies)})"
                              for f in FAMILIES)
                  + f"; expected seeds {seeds[kind] / studies:.2f} of {sum(map(len, WAVES))}")
        print(f"({time.perf_counter() - t0:.0f} s)")
    for kind in designs:
        for family in FAMILIES:
            assert _wilson(hits[kind][family], studies)[0] <= 0.05 and hits[kind][family] / studies <= 0.08, \
                (kind, family, hits)


def test_power_at_one_point_and_expected_seeds_against_the_fixed_design(capsys):
    """+1 point for an adversarial variant on both of its tasks (one question: adversarial vs standard;
    2 tasks x 3,200 translated items in 3 languages, run sd 0.5): the share of studies whose sequential
    answer is `improves`, and the seeds they spend, against the fixed design of the same maximum (6 seeds,
    alpha 0.05, analysed once) on the same studies."""
    rng = np.random.default_rng(23)
    studies = 80
    designs = {kind: look_levels(WAVES, 0.05, kind) for kind in ("obf", "pocock")}
    found = dict.fromkeys([*designs, "fixed"], 0)
    seeds = dict.fromkeys(designs, 0)
    t0 = time.perf_counter()
    for k in range(studies):
        looks = _looks(rng, 1000 + k, tasks=["t0", "t1"], variants=["standard", "a1"], pairs=3200,
                       confirmatory=("adversarial_vs_standard",), run_sd=0.5, variant_effect={"a1": 1.0})
        for kind, levels in designs.items():
            answer, _, end = _sequential(looks, levels)
            found[kind] += answer["adversarial_vs_standard"][1]["a1"] == "improves"
            seeds[kind] += sum(len(w) for w in WAVES[:end])
        fixed = adjust_families(looks[-1], 0.05, 0.8, None, 1.0)
        found["fixed"] += fixed.loc[fixed["family"] == "adversarial_vs_standard", "verdict"].iloc[0] == "improves"
    with capsys.disabled():
        print(f"\n[+1 point, run sd 0.5, {studies} studies] power: "
              + ", ".join(f"{d} {found[d] / studies:.2f} (95% CI {_wilson(found[d], studies)})" for d in found)
              + "; expected seeds: " + ", ".join(f"{d} {seeds[d] / studies:.2f}" for d in designs)
              + f", fixed 6 ({time.perf_counter() - t0:.0f} s)")
    for kind in designs:
        assert found[kind] >= found["fixed"] - 0.15 * studies, found  # little power lost to the looks
        assert seeds[kind] / studies < sum(map(len, WAVES))           # and seeds saved
