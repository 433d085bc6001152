"""The power model of a design, before any result: the item and run parts of a confirmatory contrast's
standard error from the test sets' sizes and an assumed run sd, its minimum detectable effect and power,
and which confirmatory families one model's design has. `python -m xlt.analysis.planning` prints them;
xlt/analysis/wave_plan.py simulates the looks of seeds in waves with them."""
from __future__ import annotations

import math

from scipy import stats as st

from xlt.analysis.stats import mde, satterthwaite
from xlt.workflow import plan
from xlt.workflow.designs import model_names
from xlt.workflow.config import report_settings

# Test items per language: PAWS-X 2,000 test pairs in every language (Yang et al. 2019); TyDiQA-GoldP's
# official dev set, the XTREME test set (counted from the v1.1 files; ../shared/data/tydiqa-goldp holds six).
TEST_SIZE = {"paws_x": dict.fromkeys(["en", "de", "es", "fr", "ja", "ko", "zh"], 2000),
             "tydiqa": {"en": 440, "ar": 921, "bn": 113, "fi": 782, "id": 565, "ko": 276, "ru": 812, "sw": 499,
                        "te": 669}}
MAX_ITEM_VARIANCE = 2500.0  # points^2: a score in [0, 100] with mean mu has variance <= mu (100 - mu) <= 50^2


def item_se(sizes: dict[str, int], seeds: int, tasks: int, reference_seeds: int | None = None) -> float:
    """Item-sampling standard error (points) of a contrast (arm minus reference, averaged over `tasks`
    pairs of systems) on the non-English average of languages with `sizes` test items, when two systems'
    per-item scores differ by chance only: a system's mean over R runs has item variance v / R per item
    (v <= 50^2, a [0, 100] score's largest variance), the contrast's weights are +-1/tasks, and the L
    languages' items are independent:
        se_items^2 = v (1/seeds + 1/reference_seeds) / tasks x (1 / L^2) sum_l 1 / n_l
    (= 2 v / (seeds tasks) x ... when both arms have `seeds` runs). A plain analytic estimate from test
    sizes: a system x item interaction (an arm better on some items, consistently) would add to it."""
    ref = reference_seeds or seeds
    langs = [lang for lang in sizes if lang != "en"]
    per_lang = sum(1.0 / sizes[lang] for lang in langs) / len(langs) ** 2
    return math.sqrt(MAX_ITEM_VARIANCE * (1 / seeds + 1 / ref) / tasks * per_lang)


def contrast_se(run_sd: float, seeds: int, tasks: int, item_se_: float, item_df: int, blocks: int | None = None,
                reference_seeds: int | None = None) -> tuple[float, float, float]:
    """(se of the run part, total se, df) of a contrast between two arms averaged over `tasks` pairs of
    systems, the arm's systems with `seeds` runs and the reference's with `reference_seeds` (default the
    same), run-to-run sd `run_sd`:
        se_runs^2 = run_sd^2 (1/seeds + 1/reference_seeds) / tasks    (runs independent across systems:
                                                    conservative when same-seed runs of a pair correlate)
        se^2 = se_runs^2 + item_se^2
        df = Welch-Satterthwaite(items with item_df, runs with blocks x (seeds - 1)), `blocks` = one paired
             block per task by default; an unpaired reference: (seeds - 1) + (reference_seeds - 1)."""
    ref = reference_seeds or seeds
    var_runs = run_sd ** 2 * (1 / seeds + 1 / ref) / tasks
    run_df = (seeds - 1) + (ref - 1) if reference_seeds else (blocks or tasks) * (seeds - 1)
    df = float(satterthwaite(item_se_ ** 2, var_runs, item_df, run_df)) if run_df else float(item_df)
    return math.sqrt(var_runs), math.sqrt(var_runs + item_se_ ** 2), df


def contrast_mde(run_sd: float, seeds: int, tasks: int, item_se_: float, alpha: float, power: float,
                 tests: int, item_df: int, blocks: int | None = None, reference_seeds: int | None = None) -> float:
    """Minimum detectable effect (points) of that contrast (`contrast_se`):
        MDE = (t_{1 - alpha / (2 tests)} + t_{power}) x se   (xlt.analysis.stats.mde at the Bonferroni level of a
                                                             family of `tests`: Holm's first step)
    so its run part falls as 1/sqrt(seeds x tasks)."""
    _, se, df = contrast_se(run_sd, seeds, tasks, item_se_, item_df, blocks, reference_seeds)
    return mde(se, df, alpha / tests, power)


def power_at(effect: float, mde_: float, df: float, alpha: float, tests: int, power: float) -> float:
    """The power for `effect` of the test whose MDE at `power` is mde_ (the MDE's inverse: se = MDE /
    (t_{1 - a/2} + t_power); power = P(t_df < effect / se - t_{1 - a/2}))."""
    crit = st.t.ppf(1 - alpha / tests / 2, df)
    se = mde_ / (crit + st.t.ppf(power, df))
    return float(st.t.cdf(effect / se - crit, df))


def confirmatory_targets(config: dict) -> list[str]:
    """The targets whose tests are confirmatory: report.primary_target, else every study target."""
    primary = report_settings(config)["primary_target"]
    return [primary] if primary else list(config["study"]["targets"])


def families(config: dict, target: str | None = None, extra: tuple[str, ...] = ()) -> list[dict]:
    """The confirmatory families of one model (its design's `confirmatory`, else report.confirmatory; and
    `extra`, families priced as if declared):
    {family, tests (m: Holm runs over every test of the family across the confirmatory targets and
    report.endpoints, as xlt.analysis.comparisons.adjust_families), tasks pooled per test (format_matched:
    the `target`'s format-matched tasks), blocks, reference seeds (the baseline's own when
    study.baseline_seeds declares them; else None: the arm's)}."""
    from xlt.workflow.designs import confirmatory

    s = config["study"]
    report = report_settings(config)
    conf = [*confirmatory(config, model_names(config)[0]), *extra]
    scope = len(confirmatory_targets(config)) * len(report.get("endpoints") or ["avg-xx"])
    labels = plan.target_variant_labels(config)
    names = plan.intermediate_names(config)
    out = []
    adversarial = "standard" in labels and len(labels) > 1
    if "adversarial_vs_standard" in conf and adversarial and names:
        out.append(dict(family="adversarial_vs_standard", tests=(len(labels) - 1) * scope, tasks=len(names),
                        blocks=len(names), reference_seeds=None))
    if "task_vs_baseline" in conf and s["baseline"] and names and "standard" in labels:
        base = s.get("baseline_seeds")
        out.append(dict(family="task_vs_baseline", tests=len(names) * scope, tasks=1, blocks=2,
                        reference_seeds=len(base) if base else None))
    if "format_matched" in conf and adversarial and target is not None:
        matched = plan.matched_tasks(target, s["intermediate"])
        if matched:
            out.append(dict(family="format_matched", tests=(len(labels) - 1) * scope, tasks=len(matched),
                            blocks=len(matched), reference_seeds=None))
    return out


