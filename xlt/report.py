"""The research answer from the predictions: per-example scores, seed aggregates, the confirmatory
table and its answer, the Phang-style exploratory table, summary.md. The comparisons themselves are
built in xlt/comparisons.py (estimator: xlt/stats.py); figures live in xlt/figures.py."""
from __future__ import annotations

import numpy as np
import pandas as pd

from xlt.comparisons import AVG, SYSTEM, group_column
from xlt.metrics import exact_match, f1
from xlt.plan import BASELINE

PRIMARY = {"paws_x": "accuracy", "tydiqa": "f1"}  # the metric a table and its tests are about
FAMILY_TITLES = {
    "adversarial_vs_standard": "each adversarial variant vs standard intermediate training, pooled over "
                               "intermediate tasks",
    "task_vs_baseline": "each intermediate task (standard training) vs no intermediate task",
}


def example_scores(predictions: dict, examples: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per-example metric values (x100) of one prediction file, as the official scripts define them."""
    rows = []
    if target == "paws_x":
        for ex_id, label in zip(examples["id"], examples["label"]):
            rows.append((ex_id, "accuracy", 100.0 * (predictions.get(ex_id) == int(label))))
    else:
        for ex_id, golds in zip(examples["id"], examples["answer_texts"]):
            pred = predictions.get(ex_id)
            golds = list(golds) or [""]
            rows.append((ex_id, "exact_match", 0.0 if pred is None else 100.0 * max(exact_match(pred, g) for g in golds)))
            rows.append((ex_id, "f1", 0.0 if pred is None else 100.0 * max(f1(pred, g) for g in golds)))
    return pd.DataFrame(rows, columns=["example_id", "metric", "value"])


def aggregate(matrix: pd.DataFrame, groups: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Mean and std over seeds per (system, target, metric, language), plus the non-English average,
    language-group averages (avg:<group>, non-English members), the cross-lingual gap (en - avg-xx) and
    deltas of the means vs baseline and vs standard."""
    m = matrix[matrix["stage"] == "target"].copy()
    m.loc[m["metric"] == "accuracy", "value"] *= 100  # every table in points
    per_seed = m.pivot_table(index=[*SYSTEM, "target", "metric", "seed"], columns="language", values="value")
    others = [c for c in per_seed.columns if c != "en"]
    per_seed[AVG] = per_seed[others].mean(axis=1)  # per target, only its own languages are non-NaN
    for group, members in (groups or {}).items():
        present = [c for c in others if c in members]
        if present:
            per_seed[group_column(group)] = per_seed[present].mean(axis=1)
    per_seed["gap"] = per_seed["en"] - per_seed[AVG]
    long = per_seed.reset_index().melt(id_vars=[*SYSTEM, "target", "metric", "seed"], var_name="language").dropna()
    keys = [*SYSTEM, "target", "metric", "language"]
    agg = long.groupby(keys)["value"].agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "seeds"})
    rest = ["target", "metric", "language"]
    base = agg[(agg["intermediate"] == BASELINE) & (agg["variant"] == "standard")][["model", *rest, "mean"]]
    std = agg[agg["variant"] == "standard"][["model", "intermediate", *rest, "mean"]]
    agg = agg.merge(base.rename(columns={"mean": "_base"}), on=["model", *rest], how="left")
    agg = agg.merge(std.rename(columns={"mean": "_std"}), on=["model", "intermediate", *rest], how="left")
    agg["delta_vs_baseline"] = np.where(agg["intermediate"] != BASELINE, agg["mean"] - agg["_base"], np.nan)
    agg["delta_vs_standard"] = np.where((agg["variant"] != "standard") & (agg["intermediate"] != BASELINE),
                                        agg["mean"] - agg["_std"], np.nan)
    return agg.drop(columns=["_base", "_std"])


def phang_table(agg: pd.DataFrame, comps: pd.DataFrame, target: str, languages: list[str],
                groups: list[str] = (), alpha: float = 0.05) -> pd.DataFrame:
    """Rows: intermediate task x variant (baseline first); columns: en, each language, avg-xx, the
    language-group averages. Cells are means over seeds in points. Exploratory marks, *unadjusted*
    p < alpha: † differs from the baseline, * adversarial differs from standard on the same task."""
    metric = PRIMARY[target]
    sub = agg[(agg["target"] == target) & (agg["metric"] == metric)]
    cols = ["en", *[lang for lang in languages if lang != "en"], AVG, *[group_column(g) for g in groups]]
    marked = comps[(comps["p"] < alpha) & comps["kind"].isin(["vs_baseline", "vs_standard"])]
    sig = set(map(tuple, marked[["model", "intermediate", "variant", "language", "kind"]].to_numpy()))
    rows = {}
    for (model, inter, variant), grp in sub.groupby(SYSTEM):
        values = grp.set_index("language")["mean"]
        cells = []
        for lang in cols:
            mark = ("†" if (model, inter, variant, lang, "vs_baseline") in sig else "") + \
                   ("*" if (model, inter, variant, lang, "vs_standard") in sig else "")
            cells.append(f"{values.get(lang, np.nan):.1f}{mark}")
        rows[(model, inter, variant)] = cells
    order = sorted(rows, key=lambda k: (k[0], k[1] != BASELINE, k[1], k[2] != "standard", k[2]))
    index = pd.MultiIndex.from_tuples(order, names=SYSTEM)
    return pd.DataFrame([rows[k] for k in order], index=index, columns=cols)


def confirmatory_table(comps: pd.DataFrame, family: str) -> pd.DataFrame:
    """One family's tests: every member with its delta, CI, p, Holm-adjusted p and MDE."""
    rows = comps[comps["family"] == family].copy()
    rows["label"] = np.where(family == "adversarial_vs_standard", rows["variant"], rows["intermediate"])
    return rows.sort_values("delta", ascending=False)


def _signed(x: float) -> str:
    return f"{x:+.2f}"


def family_answer(target: str, family: str, rows: pd.DataFrame, alpha: float, effect: float | None) -> str:
    """The answer a family gives, derived from all its tests (not from the best member alone)."""
    metric = {"accuracy": "accuracy", "f1": "F1"}[PRIMARY[target]]
    what = "adversarial variant" if family == "adversarial_vs_standard" else "intermediate task"
    reference = "standard intermediate training" if family == "adversarial_vs_standard" else "no intermediate task"
    if rows.empty:
        return f"no {what} was run against {reference}, so this family is not tested."
    hits = rows[rows["p_adj"] < alpha]
    seeds = int(rows["seeds"].min())
    if len(hits):
        parts = [f"`{r['label']}` {_signed(r['delta'])} (95% CI {_signed(r['ci_low'])} to {_signed(r['ci_high'])}, "
                 f"Holm p = {r['p_adj']:.2g})" for _, r in hits.iterrows()]
        up, down = int((hits["delta"] > 0).sum()), int((hits["delta"] < 0).sum())
        verdict = (f"{len(hits)} of {len(rows)} {what}s changed the non-English average {metric} significantly "
                   f"({up} up, {down} down) relative to {reference}: " + "; ".join(parts) + ".")
    else:
        tested = (f"Holm-adjusted p = {rows['p_adj'].iloc[0]:.2g}" if len(rows) == 1
                  else f"all {len(rows)} Holm-adjusted p ≥ {alpha:g}")
        verdict = (f"no {what} changed the non-English average {metric} significantly relative to {reference} "
                   f"({tested}; largest |Δ| = {rows['delta'].abs().max():.2f} points).")
    rest = rows[~(rows["p_adj"] < alpha)]
    if len(rest) and rest["mde"].notna().any():
        lo, hi = rest["mde"].min(), rest["mde"].max()
        span = f"{lo:.1f}" if abs(hi - lo) < 0.05 else f"{lo:.1f}–{hi:.1f}"
        verdict += (f" Where nothing was found, effects smaller than {span} points could not reliably have been "
                    f"seen (80% power at the Holm level) with {seeds} seed{'s' if seeds > 1 else ''} per run")
        need = rest["seeds_needed"].dropna()
        if effect is not None and seeds >= 2:
            verdict += (f"; detecting a {effect:g}-point effect would need {int(need.max())} seeds per run."
                        if len(need) == len(rest) else
                        f"; a {effect:g}-point effect is out of reach by adding seeds alone (the test items limit it).")
        elif seeds < 2:
            verdict += "; with one seed the run-to-run variation is not estimated, so this covers item sampling only."
        else:
            verdict += "."
    return verdict


def _fmt_p(p: float) -> str:
    return "—" if not np.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "<0.0001")


def confirmatory_markdown(comps: pd.DataFrame, family: str) -> str:
    t = confirmatory_table(comps, family)
    head = "variant" if family == "adversarial_vs_standard" else "intermediate task"
    lines = [f"| {head} | Δ (points) | 95% CI | p | Holm p | MDE (points) | seeds |", "|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        lines.append(f"| {r['label']} | {_signed(r['delta'])} | {_signed(r['ci_low'])} to {_signed(r['ci_high'])} | "
                     f"{_fmt_p(r['p'])} | {_fmt_p(r['p_adj'])} | {r['mde']:.2f} | {int(r['seeds'])} |")
    return "\n".join(lines)


def summary_markdown(agg: pd.DataFrame, comps: dict[str, pd.DataFrame], targets: dict[str, list[str]],
                     replicates: int, demo: bool, report_cfg: dict | None = None,
                     groups: dict | None = None) -> str:
    """summary.md: the confirmatory answer per target (every test of every declared family), then the
    exploratory tables. `groups`: {name: [languages]} with `source` for the caption."""
    cfg = report_cfg or {}
    alpha, effect = cfg.get("alpha", 0.05), cfg.get("effect_of_interest")
    families = cfg.get("confirmatory", list(FAMILY_TITLES))
    groups = groups or {}
    lines = ["# Does adversarial English intermediate training improve zero-shot cross-lingual transfer?", ""]
    if demo:
        lines += ["> **Demo run.** These numbers come from the offline demo — a randomly initialised 2-layer Bloom "
                  "fine-tuned on synthetic fixtures — and are meaningless for the research question. Run the "
                  "study config for real answers.", ""]
    lines += ["## Answer (confirmatory)", "",
              f"Pre-registered in `report.confirmatory` before any result existed: per target, on the non-English "
              f"average of the primary metric, the families below, each Holm-corrected at α = {alpha:g}. "
              "Uncertainty: two-level paired bootstrap — training runs (seeds; pooled run residuals) and test "
              f"items (translations resampled together) — {replicates:,} replicates; t-based CIs and p-values "
              "(xlt/stats.py). MDE: the smallest true effect each test detects with 80% power at its family's "
              "Bonferroni level.", ""]
    for target in targets:
        for family in families:
            rows = confirmatory_table(comps[target], family)
            lines += [f"- **{target}** — {FAMILY_TITLES[family]}: {family_answer(target, family, rows, alpha, effect)}"]
    lines.append("")
    for target in targets:
        for family in families:
            lines += [f"### {target}: {FAMILY_TITLES[family]} ({PRIMARY[target]}, non-English average)", "",
                      confirmatory_markdown(comps[target], family), ""]
    lines += ["## Exploratory (not pre-registered)", "",
              "Per language, per task × variant and per language group: means over seeds; marks are **unadjusted** "
              f"p < {alpha:g} from the same bootstrap and are expected to include false positives.", ""]
    if groups:
        source = groups.get("source", "")
        names = ", ".join(f"`avg:{g}` = {', '.join(m)}" for g, m in groups["groups"].items())
        lines += [f"Language groups (non-English members averaged): {names}. Source: {source}", ""]
    group_names = list(groups.get("groups", {}))
    for target, langs in targets.items():
        table = phang_table(agg, comps[target], target, langs, group_names, alpha)
        lines += [f"### {target}: {PRIMARY[target]} (points, mean over seeds)", "",
                  f"† differs from the no-intermediate baseline; * adversarial variant differs from standard on "
                  f"the same task (unadjusted p < {alpha:g}, exploratory).", "", to_markdown(table), ""]
    return "\n".join(lines)


def to_markdown(table: pd.DataFrame) -> str:
    header = [*table.index.names, *table.columns]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in table.iterrows():
        out.append("| " + " | ".join([*map(str, idx), *map(str, row)]) + " |")
    return "\n".join(out)
