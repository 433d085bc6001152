"""The research answer from the predictions: per-example scores, seed aggregates, the confirmatory
table and its answer, the Phang-style exploratory table, summary.md. The comparisons themselves are
built in xlt/analysis/comparisons.py (estimator: xlt/analysis/stats.py); figures live in xlt/analysis/figures.py."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from xlt.analysis.comparisons import AVG, SYSTEM, group_column
from xlt.model.metrics import exact_match, f1, points
from xlt.workflow.plan import BASELINE
from xlt.workflow.designs import DEFAULT_FAMILIES

PRIMARY = {"paws_x": "accuracy", "tydiqa": "f1"}  # the metric a table and its tests are about
FAMILY_TITLES = {
    "adversarial_vs_standard": "each adversarial variant vs standard intermediate training, pooled over "
                               "intermediate tasks",
    "task_vs_baseline": "each intermediate task (standard training) vs no intermediate task",
    "format_matched": "each adversarial variant vs standard, pooled over the intermediate tasks whose format "
                      "matches the target's",
}
ADVERSARIAL = ("adversarial_vs_standard", "format_matched")  # families whose tests are labelled by variant


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
    m = matrix[matrix["stage"] == "target"]
    m = m.assign(value=[points(k, v) for k, v in zip(m["metric"], m["value"])])  # every table in points
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


QUESTIONS = {"adversarial_vs_standard": "Does adversarial intermediate training change transfer vs standard?",
             "task_vs_baseline": "Does an English intermediate task change transfer vs none?",
             "format_matched": "On intermediate tasks of the target's format, does adversarial training change "
                               "transfer vs standard?"}


def confirmatory_table(comps: pd.DataFrame, family: str) -> pd.DataFrame:
    """One family's tests over every target and endpoint: delta, CI, p, Holm p, verdict, MDE, power."""
    rows = comps[comps["family"] == family].copy()
    rows["label"] = np.where(family in ADVERSARIAL, rows["variant"], rows["intermediate"])
    return rows.sort_values(["target", "language", "delta"], ascending=[True, True, False])


def _signed(x: float) -> str:
    return f"{x:+.2f}"


def _ci(r) -> str:
    return f"{_signed(r['ci_low'])} to {_signed(r['ci_high'])}"


def _metric(target: str) -> str:
    return {"accuracy": "accuracy", "f1": "F1"}[PRIMARY[target]]


def verdict_words(r, margin: float) -> str:
    """One test's verdict in words, with the numbers that decide it."""
    where = f"{r['target']} {_metric(r['target'])}, {r['language']}"
    if r["verdict"] in ("improves", "harms"):
        return (f"`{r['label']}` {r['verdict']} {where}: {_signed(r['delta'])} points (95% CI {_ci(r)}, "
                f"Holm p = {r['p_adj']:.2g})")
    if r["verdict"] == "equivalent":
        return f"`{r['label']}` is equivalent to its reference on {where}: the CI {_ci(r)} lies inside ±{margin:g}"
    return f"`{r['label']}` is inconclusive on {where}: the CI {_ci(r)} spans the ±{margin:g} margin"


def heterogeneity_words(r) -> str:
    """What a pooled test's heterogeneity says, for the answer line (of a row whose tasks are shown to differ)."""
    tasks = r.get("het_tasks") if isinstance(r.get("het_tasks"), str) else ""
    return (f"`{r['label']}` on {r['target']} averages unlike effects across tasks (heterogeneity Q = {r['het_q']:.1f}, "
            f"df {int(r['het_df'])}, p = {_fmt_p(r['het_p'])}, I² = {r['het_i2']:.0%}"
            + (f"; {tasks}" if tasks else "") + ")")


def family_answer(family: str, rows: pd.DataFrame, margin: float, alpha: float = 0.05) -> str:
    """The one answer a family gives, from every test's verdict (all targets and endpoints): improves /
    harms / mixed when some test is significant, else equivalent (all tests) or inconclusive; a test of an
    arm that never perturbed is `not tested` (with why) and counts for nothing. A pooled test whose tasks
    differ (heterogeneity p < alpha) is named with the tasks that differ."""
    what = "adversarial variant" if family in ADVERSARIAL else "intermediate task"
    if rows.empty:
        return f"**not tested** — no {what} was run against its reference."
    untested = rows[rows["verdict"] == "not tested"]
    why = "; ".join(dict.fromkeys(f"`{r['label']}`: {r['not_tested']}" for _, r in untested.iterrows()))
    rows = rows[rows["verdict"] != "not tested"]
    if rows.empty:
        return f"**not tested** — {why}."
    counts = rows["verdict"].value_counts()
    up, down = int(counts.get("improves", 0)), int(counts.get("harms", 0))
    eq, open_ = int(counts.get("equivalent", 0)), int(counts.get("inconclusive", 0))
    word = ("mixed" if up and down else "improves" if up else "harms" if down
            else "equivalent" if eq == len(rows) else "inconclusive")
    tally = f"{len(rows)} tests: {up} improve, {down} harm, {eq} equivalent within ±{margin:g}, {open_} inconclusive"
    decided = [verdict_words(r, margin) for _, r in rows[rows["verdict"].isin(["improves", "harms"])].iterrows()]
    detail = "; ".join(decided)
    if not decided and open_:  # the widest open CI says how far the data are from an answer
        widest = rows[rows["verdict"] == "inconclusive"].assign(w=lambda d: d["ci_high"] - d["ci_low"])
        detail = verdict_words(widest.sort_values("w").iloc[-1], margin) + " (the widest)"
    elif not decided:
        detail = f"every CI lies inside ±{margin:g} points"
    het = [heterogeneity_words(r) for _, r in rows.iterrows() if "het_p" in r and np.isfinite(r["het_p"])
           and r["het_p"] < alpha]
    if het:
        detail += "; the pooled effect averages unlike effects: " + "; ".join(het)
    if len(untested):
        detail += f"; not tested: {why}"
    return f"**{word}** ({tally}) — {detail}."


def power_note(rows: pd.DataFrame, alpha: float, effect: float | None) -> str:
    """What the tests could have seen: MDE range, power for the effect of interest, seeds needed."""
    if rows.empty or not rows["mde"].notna().any():
        return ""
    seeds = int(rows["seeds"].min())
    lo, hi = rows["mde"].min(), rows["mde"].max()
    span = f"{lo:.1f}" if abs(hi - lo) < 0.05 else f"{lo:.1f}–{hi:.1f}"
    note = (f"Effects smaller than {span} points could not reliably have been seen (80% power at the Holm "
            f"level) with {seeds} seed{'s' if seeds > 1 else ''} per run")
    if seeds < 2:
        return note + "; with one seed the run-to-run variation is not estimated, so this covers item sampling only."
    if effect is None:
        return note + "."
    need = rows["seeds_needed"]
    note += f"; the power for a {effect:g}-point effect is {rows['power'].min():.0%}–{rows['power'].max():.0%}"
    if need.notna().all():
        return note + f", and detecting it in every test would need {int(need.max())} seeds per run."
    return note + f"; in {int(need.isna().sum())} test(s) it is out of reach by adding seeds alone (test items limit it)."


def _fmt_p(p: float) -> str:
    return "—" if not np.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "<0.0001")


def _heterogeneity_cell(r) -> str:
    if "het_p" not in r or not np.isfinite(r["het_p"]):
        return "—"
    tasks = r["het_tasks"] if isinstance(r.get("het_tasks"), str) and r["het_tasks"] else ""
    return f"Q {r['het_q']:.1f} (df {int(r['het_df'])}), p {_fmt_p(r['het_p'])}, I² {r['het_i2']:.0%}" + \
        (f"; {tasks}" if tasks else "")


def confirmatory_markdown(comps: pd.DataFrame, family: str, effect: float | None) -> str:
    t = confirmatory_table(comps, family)
    pooled = family in ADVERSARIAL
    head = "variant" if pooled else "intermediate task"
    power = f"power @ {effect:g}" if effect is not None else "power"
    het = " tasks differ? |" if pooled else ""
    lines = [f"| target | endpoint | {head} | Δ (points) | 95% CI | p | Holm p | verdict | MDE (points) | {power} | seeds |{het}",
             "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if pooled else "")]
    for _, r in t.iterrows():
        pw = f"{r['power']:.0%}" if np.isfinite(r["power"]) else "—"
        mde_ = f"{r['mde']:.2f}" if np.isfinite(r["mde"]) else "—"
        verdict = r["verdict"] + (f" ({r['not_tested']})" if r["verdict"] == "not tested" else "")
        lines.append(f"| {r['target']} | {r['language']} | {r['label']} | {_signed(r['delta'])} | {_ci(r)} | "
                     f"{_fmt_p(r['p'])} | {_fmt_p(r['p_adj'])} | {verdict} | {mde_} | {pw} | "
                     f"{int(r['seeds'])} |" + (f" {_heterogeneity_cell(r)} |" if pooled else ""))
    return "\n".join(lines)


def declaration_lines(check: dict | None, now: str) -> list[str]:
    """What summary.md says of the pre-registration: declared before results, or every amendment."""
    if check is None:
        return ["**Not pre-registered**: results/preregistration.json is missing (the first target evaluation "
                "writes it; after a deletion the next run with jobs writes it anew).", ""]
    stamp = f"hash `{check['hash'][:12]}`, {check['declared_at']}"
    if not check["amendments"] and check.get("after_results"):
        return [f"**Re-declared after results existed** ({stamp}; the earlier declaration file had been deleted): "
                "the design and report block below match it, but it was made after results could be seen.", ""]
    if not check["amendments"]:
        return [f"Declared before results ({stamp}): the study design, variant blocks, calibration and selection "
                "grids and the report block below are the ones results/preregistration.json recorded before the "
                "first target evaluation.", ""]
    lines = [f"**Amended after the declaration** ({stamp}); these keys differ from what was declared before any "
             f"result (seen by this summary at {now}):", ""]
    for a in check["amendments"]:
        lines.append(f"- `{a['key']}`: declared {json.dumps(a['declared'])}, now {json.dumps(a['current'])}")
    return lines + ["", "Read the confirmatory answer with these amendments in mind (delete "
                    "results/preregistration.json to re-declare).", ""]


def run_variance_lines(variances: pd.DataFrame) -> list[str]:
    """The homogeneity diagnostic: Levene's test across variants and across tasks, per target."""
    if variances is None or variances.empty:
        return ["Run-to-run variation: one seed per system, not estimated.", ""]
    lines = ["Run-to-run variation of the non-English average (sd of runs around their system's mean, pooled per "
             "group; Levene's test, median-centred, of equal variance across the groups). Each test uses its own "
             "arms' run variance, so a group that varies more widens only its own tests.", "",
             "| target | model | across | Levene W | p | run sd per group (points) |", "|---|---|---|---|---|---|"]
    for (target, model, grouping), g in variances.groupby(["target", "model", "grouping"], sort=True):
        sds = ", ".join(f"{r['group']} {r['run_sd']:.2f}" for _, r in g.iterrows())
        w, p = g["levene_w"].iloc[0], g["levene_p"].iloc[0]
        lines.append(f"| {target} | {model} | {grouping}s | {w:.2f} | {_fmt_p(p)} | {sds} |")
    return lines + [""]


def collapsed_lines(cfg: dict, collapsed: pd.DataFrame | None, sensitivity: pd.DataFrame | None,
                    families: list[str]) -> list[str]:
    """The declared rule for runs that collapsed on English dev, and the answer under the other rule."""
    rule = cfg["collapsed_runs"]
    n = 0 if collapsed is None else len(collapsed)
    lines = [f"Collapsed runs (English dev ≤ chance + 2 points): declared rule `{rule}`; {n} target run(s) flagged."]
    if n and sensitivity is not None and not sensitivity.empty:
        other = sensitivity["collapsed_runs"].iloc[0]
        margin = cfg["equivalence_margin"]
        for family in families:
            rows = confirmatory_table(sensitivity, family)
            lines.append(f"Sensitivity (`collapsed_runs: {other}`), {QUESTIONS[family]} {family_answer(family, rows, margin)}")
    return lines + [""]


def summary_markdown(agg: pd.DataFrame, comps: dict[str, pd.DataFrame], targets: dict[str, list[str]],
                     replicates: int, demo: bool, report_cfg: dict | None = None,
                     groups: dict | None = None, variances: pd.DataFrame | None = None,
                     preregistration: dict | None = None, sensitivity: pd.DataFrame | None = None,
                     collapsed: pd.DataFrame | None = None, now: str = "", choices: str = "",
                     span_ceiling: pd.DataFrame | None = None) -> str:
    """summary.md: one answer line per question, the declaration check, the confirmatory tables (every
    test of every declared family, over both targets), run-variance homogeneity, collapsed runs, what was
    chosen on English dev (`choices`: markdown), then the exploratory tables, each span-QA target's with its
    ceiling (`span_ceiling`: results/report/span_ceiling.csv). `groups`: {name: [languages]} with `source`
    for the caption."""
    cfg = report_cfg or {}
    alpha, effect = cfg["alpha"], cfg.get("effect_of_interest")
    margin = cfg["equivalence_margin"]
    groups = groups or {}
    every = pd.concat(list(comps.values()), ignore_index=True) if comps else pd.DataFrame()
    # the declared families and any a model's own design adds (study.models.<m>.confirmatory)
    found = [f for f in every.get("family", pd.Series(dtype=str)).unique() if f in FAMILY_TITLES]
    families = list(dict.fromkeys([*cfg.get("confirmatory", DEFAULT_FAMILIES), *found]))
    lines = ["# Does adversarial English intermediate training improve zero-shot cross-lingual transfer?", ""]
    for family in families:
        lines.append(f"- **{QUESTIONS[family]}** {family_answer(family, confirmatory_table(every, family), margin, alpha)}")
    lines.append("")
    if demo:
        lines += ["> **Demo run.** These numbers come from the offline demo — a randomly initialised 2-layer Bloom "
                  "fine-tuned on synthetic fixtures — and are meaningless for the research question. Run the "
                  "study config for real answers.", ""]
    lines += ["## Answer (confirmatory)", ""] + declaration_lines(preregistration, now)
    scope = (f"on {cfg['primary_target']} only (the primary target; the other target is exploratory)"
             if cfg.get("primary_target") else "across both targets")
    lines += [f"Each family is Holm-corrected at α = {alpha:g} {scope} and over its endpoints "
              f"({', '.join(cfg.get('endpoints', [AVG]))}) of the primary metric. Verdicts: improves / harms "
              f"(Holm p < α), equivalent (two one-sided tests at the Holm level: the CI lies inside ±{margin:g} "
              "points), else inconclusive — an inconclusive test is not evidence of no effect. Uncertainty: test "
              f"items by a paired bootstrap (translations resampled together; {replicates:,} replicates) plus "
              "run-to-run variation from each arm's own runs, paired by seed within a task (xlt/analysis/stats.py); "
              "t-based CIs with Welch–Satterthwaite df. MDE: the smallest true effect each test detects with "
              "80% power at its family's Bonferroni level.", ""]
    for family in families:
        rows = confirmatory_table(every, family)
        lines += [f"### {FAMILY_TITLES[family]}", "", f"{QUESTIONS[family]} {family_answer(family, rows, margin, alpha)}", ""]
        note = power_note(rows, alpha, effect)
        lines += ([note, ""] if note else []) + [confirmatory_markdown(every, family, effect), ""]
    lines += run_variance_lines(variances) + collapsed_lines(cfg, collapsed, sensitivity, families)
    if choices:
        lines += ["## Chosen on English dev", "", choices, ""]
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
        if span_ceiling is not None:
            from xlt.analysis.span_ceiling import markdown as ceiling_markdown

            lines += [ceiling_markdown(span_ceiling, target, groups.get("groups"))]
    return "\n".join(lines)


FAMILY_QUESTION = {"adversarial_vs_standard": "adversarial vs standard", "task_vs_baseline": "intermediate task vs none",
                   "format_matched": "adversarial vs standard on format-matched tasks"}


def looks_section(looks: list[dict], waves: list[list[int]], alpha: float, spending: str,
                  model: str | None = None) -> str:
    """Seeds in waves: the looks made, each family's decision at each, and the spent levels (of `model`'s
    waves, named in the heading when the study has several models)."""
    from xlt.analysis.sequential import final_look, look_levels

    levels = look_levels(waves, alpha, spending)
    end = final_look(looks, len(waves))
    name = {"obf": "O'Brien-Fleming", "pocock": "Pocock"}[spending]
    lines = ["## Seeds in waves (group-sequential)" + (f": {model}" if model else ""), "",
             f"Declared waves of seeds {waves}: an interim analysis after each wave but the last; a family is "
             f"decided when every test has a verdict at the look's level. Levels are the spent ones "
             f"(Lan-DeMets {name}-type spending of alpha = {alpha:g} over {len(waves)} looks): "
             + ", ".join(f"look {k} {a:.4g}" for k, a in enumerate(levels, 1))
             + f". The study ended at look {end} of {len(waves)}"
             + (" (every family decided: later waves were not trained)." if end < len(waves) else "."), ""]
    decided_at = {}
    for rec in sorted(looks, key=lambda r: r["wave"]):
        for fam in rec["families"]:
            verdicts = ", ".join(f"{t['target']} {t['intermediate'] if t['family'] == 'task_vs_baseline' else t['variant']}"
                                 f" {t['verdict']}" for t in fam["tests"])
            state = "decided" if fam["decided"] else "open"
            lines.append(f"- look {rec['wave']} ({rec['seeds']} of {rec['max_seeds']} seeds, level {rec['level']:.4g}), "
                         f"{FAMILY_QUESTION.get(fam['family'], fam['family'])} ({fam['model']}): {state} — {verdicts}")
            if fam["decided"]:
                decided_at.setdefault((fam["family"], fam["model"]), rec["wave"])
    if end == len(waves):
        lines.append(f"- look {end} (all {sum(map(len, waves))} seeds, level {levels[-1]:.4g}): the final analysis "
                     "answers every family still open")
    for (family, model), k in sorted(decided_at.items()):
        if k < end:
            lines.append(f"- {FAMILY_QUESTION.get(family, family)} ({model}) keeps the verdicts of look {k}; its later "
                         "runs appear in the tables, not re-tested")
    return "\n".join(lines)


def to_markdown(table: pd.DataFrame) -> str:
    header = [*table.index.names, *table.columns]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in table.iterrows():
        out.append("| " + " | ".join([*map(str, idx), *map(str, row)]) + " |")
    return "\n".join(out)
