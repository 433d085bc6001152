"""Every comparison the report makes, from per-example scores, with the estimator of xlt/analysis/stats.py.

Confirmatory families (declared in config `report` before results exist; on the declared endpoints —
default the non-English average):
  adversarial_vs_standard  each adversarial variant vs standard intermediate training, pooled over the
                           intermediate tasks that have both (the research question)
  task_vs_baseline         each intermediate task, trained standard, vs no intermediate task (Phang et al.)
  format_matched           each adversarial variant vs standard, pooled over the intermediate tasks whose
                           format matches the target's (sentence pairs -> PAWS-X: MNLI, QQP, ANLI+; spans
                           -> TyDiQA: SQuAD, SQuAD 2.0), where Phang et al. saw intermediate training help
Beside every pooled contrast (both kinds) on an endpoint: whether the variant's effect differs between the
tasks it pools (`het_*`: Q generalised to the tasks' correlated estimates, its p-value from a parametric
bootstrap, I^2, and the tasks whose effect lies beyond the pooled one at the alpha level; stats.py
`heterogeneity`). A significant Q says the pooled number averages unlike effects.
Holm runs within a family and model across every target and endpoint given to `adjust_families` (the
statistics job gives it both targets, or only `report.primary_target`). Every confirmatory test gets a
verdict: improves / harms (Holm p < alpha), equivalent (TOST at the family's Holm level: the CI lies
inside ±margin) or inconclusive. Everything else — per language, per task x variant, language groups —
is exploratory: CIs and unadjusted p-values, no adjusted p, no verdict (family = "exploratory").
A contrast of an adversarial arm that never perturbed (radius 0: a copy of standard training) is `not
tested`, with the reason in `not_tested`: it is left out of its family's Holm and never called equivalent."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from xlt.workflow.designs import DEFAULT_FAMILIES
from xlt.workflow.plan import BASELINE
from xlt.analysis.stats import (ItemDesign, contrasts, heterogeneity, holm, mde, power_at, seeds_needed, tost_p,
                                two_level_bootstrap)

SYSTEM = ["model", "intermediate", "variant"]
AVG = "avg-xx"  # mean over the non-English languages
POOLED = {"pooled_vs_standard": "all tasks", "matched_vs_standard": "format-matched tasks"}  # kind: its label
HET_COLUMNS = ["het_q", "het_df", "het_p", "het_i2", "het_tasks"]
VERDICTS = ("improves", "harms", "equivalent", "inconclusive", "not tested")
NOT_TESTED = "not tested"  # a contrast whose arms are the same training (xlt/workflow/calibration.py untested_arms)


def group_column(group: str) -> str:
    return f"avg:{group}"


def translation_cluster(example_id: str, language: str) -> str:
    """Translations share their id up to the language code (PAWS-X 'de-test-17' ~ 'en-test-17')."""
    return "-".join(part for part in example_id.split("-") if part != language)


def design_from_scores(scores: pd.DataFrame, parallel: bool):
    """(systems, run_system, run_seed, {lang: [runs, items] scores}, ItemDesign) from one target's and
    metric's per-example scores; every run must have scored the same items of a language (pairing)."""
    runs = scores[[*SYSTEM, "seed"]].drop_duplicates().sort_values([*SYSTEM, "seed"])
    systems = list(dict.fromkeys(map(tuple, runs[SYSTEM].to_numpy())))
    run_keys = [tuple(r) for r in runs.to_numpy()]
    index = {s: i for i, s in enumerate(systems)}
    run_system = np.array([index[k[:3]] for k in run_keys])
    run_seed = np.array([k[3] for k in run_keys])
    tables, item_ids = {}, {}
    for lang, sub in scores.groupby("language", sort=False):
        table = sub.pivot_table(index=[*SYSTEM, "seed"], columns="example_id", values="value", aggfunc="first")
        table = table.reindex(pd.MultiIndex.from_tuples(run_keys, names=[*SYSTEM, "seed"]))
        if table.isna().any().any():
            raise ValueError(f"runs were evaluated on different {lang} examples (or some runs lack {lang}); "
                             "cannot pair them — re-run the missing evaluation jobs")
        tables[lang] = table.to_numpy(dtype=np.float64)
        item_ids[lang] = list(table.columns)
    design = ItemDesign.build(item_ids, translation_cluster if parallel else None)
    return systems, run_system, run_seed, tables, design


def comparisons(scores: pd.DataFrame, replicates: int, seed: int, parallel: bool = False, **options) -> pd.DataFrame:
    """All comparisons of one target and metric from its per-example scores (see comparisons_from_design)."""
    systems, run_system, run_seed, tables, design = design_from_scores(scores, parallel)
    return comparisons_from_design(systems, run_system, tables, design, replicates, seed, run_seed=run_seed,
                                   **options)


def pairing_blocks(systems: list[tuple], pair_seeds: bool = True) -> np.ndarray:
    """Block id per system: the variants of one (model, intermediate task) pair by seed — they share the
    seed's data order and head initialisation; the baseline and every other task are blocks of their own."""
    if not pair_seeds:
        return np.arange(len(systems))
    keys = {k: i for i, k in enumerate(dict.fromkeys((m, t) for m, t, _ in systems))}
    return np.array([keys[(m, t)] for m, t, _ in systems])


def comparisons_from_design(systems: list[tuple], run_system: np.ndarray, tables: dict[str, np.ndarray],
                            design: ItemDesign, replicates: int, seed: int, run_seed: np.ndarray | None = None,
                            groups: dict[str, list[str]] | None = None, confirmatory=tuple(DEFAULT_FAMILIES), alpha: float = 0.05,
                            power: float = 0.8, effect_of_interest: float | None = None,
                            equivalence_margin: float = 1.0, endpoints=(AVG,), pair_seeds: bool = True,
                            run_mode: str = "blocks", item_design: str = "clustered",
                            columns: list[str] | None = None, diagnostics: dict | None = None,
                            untested: dict[tuple[str, str], str] | None = None,
                            matched: list[str] | None = None) -> pd.DataFrame:
    """`system` rows (each system's mean and CI) and contrasts (vs_baseline, vs_standard,
    pooled_vs_standard, and matched_vs_standard over the `matched` tasks) per language column, with family, p and the TOST p; confirmatory rows (on
    `endpoints`) adjusted by `adjust_families` within this frame. `item_design="independent"` ignores
    translation clusters and `run_mode="pooled"` pools run variance over all systems (both for
    comparison only); `columns` limits the output to those language columns (simulation studies).
    `diagnostics`, if given, receives "run_variance": the homogeneity diagnostic (`run_variance_table`).
    `untested`: {(model, variant): why} of arms that never perturbed; their contrasts with standard get
    the verdict `not tested`. `matched`: the intermediate tasks whose format matches this target's (the
    format_matched contrasts pool over them)."""
    if item_design == "independent":
        design = design.independent()
    rng = np.random.default_rng([seed, zlib.crc32("|".join(sorted(tables)).encode())])
    boot = two_level_bootstrap(tables, run_system, design, replicates, rng, run_seed=run_seed,
                               blocks=pairing_blocks(systems, pair_seeds))
    langs = list(tables)
    non_en = [lang for lang in langs if lang != "en"]
    available = list(langs)
    if non_en:
        boot.add_average(AVG, non_en)
        available.append(AVG)
    for group, members in (groups or {}).items():
        present = [lang for lang in members if lang in non_en]
        if present:
            boot.add_average(group_column(group), present)
            available.append(group_column(group))
    columns = available if columns is None else [c for c in available if c in columns]
    index = {s: i for i, s in enumerate(systems)}
    specs = [("system", s, "", {index[s]: 1.0}) for s in systems] + _contrasts(systems, index, matched)
    weights = np.zeros((len(specs), len(systems)))
    for k, (_, _, _, w) in enumerate(specs):
        for i, v in w.items():
            weights[k, i] = v
    seeds = np.array([min(int(boot.seeds[i]) for i in w) for *_, w in specs])
    frames = []
    for col in columns:  # all contrasts of a column at once
        c = contrasts(boot, weights, col, run_mode=run_mode)
        frames.append(pd.DataFrame({
            "kind": [k for k, *_ in specs],
            "family": [_family(k, s, col, confirmatory, endpoints) for k, s, *_ in specs],
            "model": [s[0] for _, s, *_ in specs], "intermediate": [s[1] for _, s, *_ in specs],
            "variant": [s[2] for _, s, *_ in specs], "reference": [r for _, _, r, _ in specs], "language": col,
            "delta": c["delta"], "se": c["se"], "se_items": np.sqrt(c["var_items"]), "se_runs": np.sqrt(c["var_runs"]),
            "df": c["df"], "df_items": float(boot.item_df), "df_runs": c["df_runs"], "ci_low": c["ci_low"],
            "ci_high": c["ci_high"], "p": c["p"], "p_tost": tost_p(c["delta"], c["se"], c["df"], equivalence_margin),
            "seeds": seeds, **_heterogeneity(boot, specs, weights, col, endpoints, alpha, seed)}))
    out = pd.concat(frames, ignore_index=True)
    out.loc[out["kind"] == "system", ["p", "p_tost"]] = np.nan  # a system's own mean is not a test
    out["not_tested"] = ""
    arm = out["kind"].isin(["vs_standard", *POOLED])
    for (model, variant), why in (untested or {}).items():
        out.loc[arm & (out["model"] == model) & (out["variant"] == variant), "not_tested"] = why
    out = adjust_families(out, alpha, power, effect_of_interest, equivalence_margin)
    if diagnostics is not None and non_en:
        diagnostics["run_variance"] = run_variance_table(boot, systems, AVG)
    return out


def _heterogeneity(boot, specs, weights, column: str, endpoints, alpha: float, seed: int) -> dict:
    """HET_COLUMNS for one column: on endpoints, each pooled row's test of equal effects across the
    per-task contrasts it averages (their vs_standard rows), and when it rejects at alpha the tasks whose
    standardised distance from the pooled effect exceeds their own t quantile; NaN / "" elsewhere."""
    n = len(specs)
    out = {c: np.full(n, np.nan) for c in HET_COLUMNS[:-1]} | {"het_tasks": [""] * n}
    if column not in endpoints:
        return out
    per_task = {(k, s[0], s[1], s[2]): j for j, (k, s, *_) in enumerate(specs) if k == "vs_standard"}
    from scipy.stats import t as student
    for j, (kind, (model, _, variant), _, w) in enumerate(specs):
        if kind not in POOLED:
            continue
        members = [(t, per_task[("vs_standard", model, t, variant)]) for t in _pooled_tasks(specs, w, model, variant)]
        if len(members) < 2:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(f"{column}|{model}|{variant}|{kind}".encode())])
        h = heterogeneity(boot, weights[[m for _, m in members]], column, rng)
        out["het_q"][j], out["het_df"][j], out["het_p"][j], out["het_i2"][j] = h.q, h.df, h.p, h.i2
        if h.p >= alpha:  # no evidence that the tasks differ: name none
            continue
        crit = student.ppf(1 - alpha / 2, h.df_each)  # each task's own df (3 seeds: 2 run df, a wide t)
        beyond = [(t, r, float(weights[m] @ boot.means[column])) for (t, m), r, c in zip(members, h.residuals, crit)
                  if abs(r) > c]
        parts = [f"{side}: " + ", ".join(f"{t} ({d:+.2f})" for t, r, d in beyond if (r > 0) == (side == "above"))
                 for side in ("above", "below") if any((r > 0) == (side == "above") for _, r, _ in beyond)]
        out["het_tasks"][j] = "; ".join(parts)
    return out


def _pooled_tasks(specs, w: dict, model: str, variant: str) -> list[str]:
    """The intermediate tasks a pooled contrast averages (its variant systems with a positive weight)."""
    systems = {i: s for k, s, _, ww in specs if k == "system" for i in ww}
    return [systems[i][1] for i, v in w.items() if v > 0 and systems[i][2] == variant and systems[i][0] == model]


def _contrasts(systems, index, matched=None):
    """(kind, system, reference label, {system index: weight}) for every comparison."""
    out = []
    for s in systems:
        model, inter, variant = s
        base = (model, BASELINE, "standard")
        if inter != BASELINE and base in index:
            out.append(("vs_baseline", s, "none/standard", {index[s]: 1.0, index[base]: -1.0}))
        std = (model, inter, "standard")
        if inter != BASELINE and variant != "standard" and std in index:
            out.append(("vs_standard", s, "standard", {index[s]: 1.0, index[std]: -1.0}))
    for model, variant in sorted({(m, v) for m, i, v in systems if v != "standard" and i != BASELINE}):
        paired = [i for m, i, v in systems if (m, v) == (model, variant) and i != BASELINE
                  and (m, i, "standard") in index]
        pools = {"pooled_vs_standard": paired,
                 "matched_vs_standard": [i for i in paired if matched is not None and i in matched]}
        for kind, tasks in pools.items():
            if tasks:
                weights = {}
                for inter in tasks:  # mean over tasks of (variant - standard)
                    weights[index[(model, inter, variant)]] = 1.0 / len(tasks)
                    weights[index[(model, inter, "standard")]] = -1.0 / len(tasks)
                out.append((kind, (model, POOLED[kind], variant), "standard", weights))
    return out


def _family(kind: str, system, column: str, confirmatory, endpoints) -> str:
    if column not in endpoints:
        return "exploratory"
    if kind == "pooled_vs_standard" and "adversarial_vs_standard" in confirmatory:
        return "adversarial_vs_standard"
    if kind == "matched_vs_standard" and "format_matched" in confirmatory:
        return "format_matched"
    if kind == "vs_baseline" and system[2] == "standard" and "task_vs_baseline" in confirmatory:
        return "task_vs_baseline"
    return "exploratory"


def adjust_families(out: pd.DataFrame, alpha: float, power: float, effect: float | None,
                    margin: float) -> pd.DataFrame:
    """Holm within each confirmatory family and model over every row of `out` (all its targets and
    endpoints) but the `not tested` ones, the TOST p-values Holm-adjusted the same way, a verdict per test, MDE at the family's
    Bonferroni level alpha / m, power for `effect` and the seeds needed to detect it."""
    out = out.copy()
    for col in ("p_adj", "p_tost_adj", "family_size", "mde", "power", "seeds_needed"):
        out[col] = np.nan
    out["verdict"] = ""
    untested = out["not_tested"].fillna("").astype(str) != "" if "not_tested" in out else pd.Series(False, out.index)
    conf = (out["family"] != "exploratory") & ~untested
    out.loc[(out["family"] != "exploratory") & untested, "verdict"] = NOT_TESTED
    for _, idx in out[conf].groupby(["family", "model"]).groups.items():
        m = len(idx)
        rows = out.loc[idx]
        p_adj, eq_adj = holm(rows["p"].to_numpy()), holm(rows["p_tost"].to_numpy())
        out.loc[idx, "p_adj"], out.loc[idx, "p_tost_adj"], out.loc[idx, "family_size"] = p_adj, eq_adj, m
        out.loc[idx, "verdict"] = np.where(p_adj < alpha, np.where(rows["delta"] > 0, "improves", "harms"),
                                           np.where(eq_adj < alpha, "equivalent", "inconclusive"))
        out.loc[idx, "mde"] = [mde(se, df, alpha / m, power) for se, df in zip(rows["se"], rows["df"])]
        if effect is not None:
            out.loc[idx, "power"] = [power_at(effect, se, df, alpha / m) for se, df in zip(rows["se"], rows["df"])]
            need = [seeds_needed(effect, r.se_items ** 2, r.df_items, r.se_runs ** 2, r.df_runs, int(r.seeds),
                                 alpha / m, power) for r in rows.itertuples()]
            # with one seed the run variance is unknown: no honest number of seeds to quote
            out.loc[idx, "seeds_needed"] = [np.nan if n is None or r.seeds < 2 else n
                                            for n, r in zip(need, rows.itertuples())]
    return out


def run_variance_table(boot, systems: list[tuple], column: str) -> pd.DataFrame:
    """Homogeneity of run-to-run variation on one column: per grouping (variant: the arms of the
    intermediate tasks; task: every intermediate task and the baseline), each group's run sd (residuals
    of runs from their system's mean, pooled in the group, df = sum R - 1) and Levene's test
    (Brown-Forsythe, median-centred; scipy) of equal variance across the groups."""
    from scipy.stats import levene

    x = boot.run_means[column]
    resid = x - boot.means[column][boot.run_system]
    scale = np.sqrt(boot.seeds / np.maximum(boot.seeds - 1, 1))[boot.run_system]  # unbiased per run
    rows = []
    for grouping, key in (("variant", lambda s: s[2] if s[1] != BASELINE else None), ("task", lambda s: s[1])):
        members: dict[str, list[int]] = {}
        for i, s in enumerate(systems):
            if key(s) is not None and boot.seeds[i] >= 2:
                members.setdefault(key(s), []).append(i)
        samples = {g: (resid * scale)[np.isin(boot.run_system, idx)] for g, idx in members.items()}
        test = levene(*samples.values(), center="median") if len(samples) >= 2 else None
        for g, idx in members.items():
            df = int(sum(boot.seeds[i] - 1 for i in idx))
            sd = float(np.sqrt((resid[np.isin(boot.run_system, idx)] ** 2).sum() / df))
            rows.append({"grouping": grouping, "group": g, "run_sd": sd, "df": df,
                         "levene_w": np.nan if test is None else float(test.statistic),
                         "levene_p": np.nan if test is None else float(test.pvalue)})
    return pd.DataFrame(rows, columns=["grouping", "group", "run_sd", "df", "levene_w", "levene_p"])


def pooled_run_sd(variances: pd.DataFrame) -> dict[tuple[str, str], tuple[float, int]]:
    """{(model, target): (run sd, df)} pooled over the `task` grouping of a run-variance table (every
    intermediate arm and the baseline): sqrt(sum df sd^2 / sum df) — the run sd `python -m xlt.analysis.planning` uses
    in place of report.assumed_run_sd once results exist."""
    out = {}
    rows = variances[variances["grouping"] == "task"]
    for (model, target), g in rows.groupby(["model", "target"], sort=True):
        df = int(g["df"].sum())
        if df > 0:
            out[(str(model), str(target))] = (float(np.sqrt((g["df"] * g["run_sd"] ** 2).sum() / df)), df)
    return out
