"""What seeds in waves are expected to cost: the looks simulated from the plan's power model.

A model's waves (study.waves or its own) stop once every confirmatory family of its design is decided,
and a later wave trains only the arms an open family still needs (xlt/workflow/plan.py `family_needs`).
How much that saves depends on the effects, so the plan prices it by simulation, per model, under two
declared scenarios — no effect anywhere, and every confirmatory test at report.effect_of_interest — at
the run sd the plan assumes (report.assumed_run_sd; a family with a target that has none is counted open
at every look, so its later waves are priced in full):

  * each test's estimate at look k is its mean over the seeds so far: a random walk over the waves whose
    se at k is the plan's contrast_se at those seeds (power.py), with its df;
  * look k decides as the interim job does: Holm within the family at the look's spent level
    (xlt/analysis/sequential.py), improves / harms, else equivalent by TOST at that level, else open;
  * tests are simulated independently (they share standard arms in truth): an approximation for pricing,
    not for inference.

Expected GPU-hours = every job's minutes times the share of simulated studies in which its wave is
trained for a family that needs it (wave 1, selection and calibration: always)."""
from __future__ import annotations

import numpy as np
from scipy import stats as st

from xlt.analysis.sequential import look_levels
from xlt.analysis.stats import holm, tost_p
from xlt.workflow import plan

SCENARIOS = ("no effect", "effect of interest")


def family_tests(config: dict, report: dict) -> dict[str, list[tuple[str, dict]]]:
    """{family: [(target, its planning record)] one entry per test} of one model's design (a view)."""
    from xlt.analysis.power import confirmatory_targets, families

    targets = confirmatory_targets(config)
    scope = len(targets) * len(report.get("endpoints") or ["avg-xx"])
    out: dict[str, list] = {}
    for target in targets:
        for fam in families(config, target):
            out.setdefault(fam["family"], []).extend([(target, fam)] * (fam["tests"] // scope * (scope // len(targets))))
    return out


def _se(config: dict, target: str, fam: dict, seeds: int, run_sd: float) -> tuple[float, float]:
    from xlt.analysis.power import TEST_SIZE, contrast_se, item_se

    sizes = {lang: TEST_SIZE[target][lang] for lang in config["study"]["targets"][target]}
    ise = item_se(sizes, seeds, fam["tasks"], fam["reference_seeds"])
    _, se, df = contrast_se(run_sd, seeds, fam["tasks"], ise, min(sizes.values()) - 1, fam["blocks"],
                            fam["reference_seeds"])
    return se, df


def open_after_looks(config: dict, report: dict, effect: float, studies: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """{family: [studies, looks] True where the family is still open after that look} of one model."""
    waves = plan.waves(config)
    alpha, margin = report["alpha"], report["equivalence_margin"]
    levels = look_levels(waves, alpha, report["spending"])
    run_sds = report.get("assumed_run_sd") or {}
    seeds = np.cumsum([len(w) for w in waves])
    looks = len(waves) - 1
    out = {}
    for family, tests in family_tests(config, report).items():
        if not tests or looks == 0:
            continue
        if any(run_sds.get(t) is None for t, _ in tests):  # nothing to simulate with: open until the last wave
            out[family] = np.ones((studies, looks), dtype=bool)
            continue
        distinct = {(t, id(fam)): np.array([_se(config, t, fam, int(n), run_sds[t]) for n in seeds])
                    for t, fam in tests}                                         # [K, 2]: se, df at each look
        se_df = np.array([distinct[(t, id(fam))] for t, fam in tests])          # [T, K, 2]
        se, df = se_df[..., 0], se_df[..., 1]
        # the mean over growing seeds: wave sums with variance ~ seeds of the wave, rescaled to each look's se
        sizes = np.array([len(w) for w in waves], dtype=float)
        sums = rng.standard_normal((studies, len(tests), len(waves))) * np.sqrt(sizes)
        walk = np.cumsum(sums, axis=2) / seeds                                       # [S, T, K], var 1 / seeds
        est = effect + walk * se[None] * np.sqrt(seeds)[None, None]
        decided = np.zeros((studies, looks), dtype=bool)
        for k in range(looks):
            e, s_, d = est[:, :, k], se[:, k], df[:, k]
            p = 2 * st.t.sf(np.abs(e) / s_, d)
            eq = tost_p(e, s_, d, margin)
            sig = np.array([holm(row) for row in p]) < levels[k]
            equiv = np.array([holm(row) for row in eq]) < levels[k]
            decided[:, k] = (sig | equiv).all(axis=1)
        out[family] = ~np.maximum.accumulate(decided, axis=1)  # once decided, decided
    return out


def expected_minutes(config: dict, jobs: list[dict], report: dict, studies: int = 2000, seed: int = 0,
                     models: list[str] | None = None) -> dict:
    """{model: {scenario: expected minutes, "maximum": minutes}} of the training jobs (planning.training_jobs)
    of `models` (default every study model)."""
    from xlt.workflow.designs import model_names, view

    out = {}
    for model in models or model_names(config):
        v = view(config, model)
        mine = [j for j in jobs if j["model"] == model]
        row = {"maximum": sum(j["minutes"] for j in mine)}
        for scenario in SCENARIOS:
            effect = 0.0 if scenario == "no effect" else float(report.get("effect_of_interest") or 0.0)
            opened = open_after_looks(v, report, effect, studies, np.random.default_rng([seed, len(scenario)]))
            total = 0.0
            for j in mine:
                wave = max(j["wave"], 1)  # selection and calibration (wave 0) run before the first look
                if wave == 1:
                    total += j["minutes"]
                    continue
                run = ({"inter": j["arm"], "variant": j["variant"], "target": j["target"]} if j["stage"] == "target"
                       else {"task": j["arm"], "variant": j["variant"]})
                needs = [f for f in opened if plan.family_needs(f, run, v["study"]["targets"])]
                if needs:
                    total += j["minutes"] * float(np.mean(np.any([opened[f][:, wave - 2] for f in needs], axis=0)))
            row[scenario] = total
        out[model] = row
    return out
