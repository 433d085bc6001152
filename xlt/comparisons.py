"""Every comparison the report makes, from per-example scores, with the two-level bootstrap of
xlt/stats.py.

Confirmatory families (declared in config `report.confirmatory` before results exist; Holm within each
family, per target and model; on the non-English average only):
  adversarial_vs_standard  each adversarial variant vs standard intermediate training, pooled over the
                           intermediate tasks that have both (the research question)
  task_vs_baseline         each intermediate task, trained standard, vs no intermediate task (Phang et al.)
Everything else — per language, per task x variant, language-group averages — is exploratory: CIs and
unadjusted p-values, no adjusted p (column family = "exploratory")."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from xlt.plan import BASELINE
from xlt.stats import Bootstrap, ItemDesign, contrasts, holm, mde, seeds_needed, two_level_bootstrap

SYSTEM = ["model", "intermediate", "variant"]
AVG = "avg-xx"  # mean over the non-English languages
FAMILIES = ("adversarial_vs_standard", "task_vs_baseline")


def group_column(group: str) -> str:
    return f"avg:{group}"


def translation_cluster(example_id: str, language: str) -> str:
    """Translations share their id up to the language code (PAWS-X 'de-test-17' ~ 'en-test-17')."""
    return "-".join(part for part in example_id.split("-") if part != language)


def design_from_scores(scores: pd.DataFrame, parallel: bool):
    """(systems, run_system, {lang: [runs, items] scores}, ItemDesign) from one target's and metric's
    per-example scores; every run must have scored the same items of a language (pairing)."""
    runs = scores[[*SYSTEM, "seed"]].drop_duplicates().sort_values([*SYSTEM, "seed"])
    systems = list(dict.fromkeys(map(tuple, runs[SYSTEM].to_numpy())))
    run_keys = [tuple(r) for r in runs.to_numpy()]
    index = {s: i for i, s in enumerate(systems)}
    run_system = np.array([index[k[:3]] for k in run_keys])
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
    return systems, run_system, tables, design


def comparisons(scores: pd.DataFrame, replicates: int, seed: int, parallel: bool = False, **options) -> pd.DataFrame:
    """All comparisons of one target and metric from its per-example scores (see comparisons_from_design)."""
    systems, run_system, tables, design = design_from_scores(scores, parallel)
    return comparisons_from_design(systems, run_system, tables, design, replicates, seed, **options)


def comparisons_from_design(systems: list[tuple], run_system: np.ndarray, tables: dict[str, np.ndarray],
                            design: ItemDesign, replicates: int, seed: int,
                            groups: dict[str, list[str]] | None = None, confirmatory=FAMILIES, alpha: float = 0.05,
                            power: float = 0.8, effect_of_interest: float | None = None,
                            item_design: str = "clustered") -> pd.DataFrame:
    """`system` rows (each system's mean and CI) and contrasts (vs_baseline, vs_standard,
    pooled_vs_standard) per language column, with family, p, Holm-adjusted p (confirmatory rows), and for
    confirmatory rows the minimum detectable effect and the seeds needed to detect `effect_of_interest`
    points. `item_design="independent"` ignores translation clusters (for comparison only)."""
    if item_design == "independent":
        design = design.independent()
    rng = np.random.default_rng([seed, zlib.crc32("|".join(sorted(tables)).encode())])
    boot = two_level_bootstrap(tables, run_system, design, replicates, rng)
    langs = list(tables)
    non_en = [lang for lang in langs if lang != "en"]
    columns = list(langs)
    if non_en:
        boot.add_average(AVG, non_en)
        columns.append(AVG)
    for group, members in (groups or {}).items():
        present = [lang for lang in members if lang in non_en]
        if present:
            boot.add_average(group_column(group), present)
            columns.append(group_column(group))
    index = {s: i for i, s in enumerate(systems)}
    specs = [("system", s, "", {index[s]: 1.0}) for s in systems] + _contrasts(systems, index)
    weights = np.zeros((len(specs), len(systems)))
    for k, (_, _, _, w) in enumerate(specs):
        for i, v in w.items():
            weights[k, i] = v
    seeds = np.array([min(int(boot.seeds[i]) for i in w) for *_, w in specs])
    frames = []
    for col in columns:  # all contrasts of a column at once
        c = contrasts(boot, weights, col)
        frames.append(pd.DataFrame({
            "kind": [k for k, *_ in specs],
            "family": [_family(k, s, col, confirmatory) for k, s, *_ in specs],
            "model": [s[0] for _, s, *_ in specs], "intermediate": [s[1] for _, s, *_ in specs],
            "variant": [s[2] for _, s, *_ in specs], "reference": [r for _, _, r, _ in specs], "language": col,
            "delta": c["delta"], "se": c["se"], "se_items": np.sqrt(c["var_items"]), "se_runs": np.sqrt(c["var_runs"]),
            "df": c["df"], "ci_low": c["ci_low"], "ci_high": c["ci_high"], "p": c["p"], "seeds": seeds}))
    out = pd.concat(frames, ignore_index=True)
    out.loc[out["kind"] == "system", "p"] = np.nan  # a system's own mean is not a test
    return _adjust(out, boot, len(systems), alpha, power, effect_of_interest)


def _contrasts(systems, index):
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
        matched = [i for m, i, v in systems if (m, v) == (model, variant) and i != BASELINE
                   and (m, i, "standard") in index]
        if matched:
            weights = {}
            for inter in matched:  # mean over tasks of (variant - standard)
                weights[index[(model, inter, variant)]] = 1.0 / len(matched)
                weights[index[(model, inter, "standard")]] = -1.0 / len(matched)
            out.append(("pooled_vs_standard", (model, "all tasks", variant), "standard", weights))
    return out


def _family(kind: str, system, column: str, confirmatory) -> str:
    if column != AVG:
        return "exploratory"
    if kind == "pooled_vs_standard" and "adversarial_vs_standard" in confirmatory:
        return "adversarial_vs_standard"
    if kind == "vs_baseline" and system[2] == "standard" and "task_vs_baseline" in confirmatory:
        return "task_vs_baseline"
    return "exploratory"


def _adjust(out: pd.DataFrame, boot: Bootstrap, n_systems: int, alpha: float, power: float,
            effect: float | None) -> pd.DataFrame:
    """Holm within each confirmatory family (per model); MDE at the family's alpha / m; seeds needed."""
    for col in ("p_adj", "family_size", "mde", "seeds_needed"):
        out[col] = np.nan
    conf = out["family"] != "exploratory"
    for _, idx in out[conf].groupby(["family", "model"]).groups.items():
        m = len(idx)
        rows = out.loc[idx]
        out.loc[idx, "p_adj"] = holm(rows["p"].to_numpy())
        out.loc[idx, "family_size"] = m
        out.loc[idx, "mde"] = [mde(se, df, alpha / m, power) for se, df in zip(rows["se"], rows["df"])]
        if effect is not None and boot.run_df > 0:  # with one seed the run variance is unknown
            need = [seeds_needed(effect, r.se_items ** 2, r.se_runs ** 2, int(r.seeds), n_systems, boot.item_df,
                                 alpha / m, power) for r in rows.itertuples()]
            out.loc[idx, "seeds_needed"] = [np.nan if n is None else n for n in need]
    return out
