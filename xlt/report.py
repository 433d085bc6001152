"""The research answer from the predictions: per-example scores, seed aggregates, paired-bootstrap
comparisons (vs the no-intermediate baseline; adversarial vs standard), the Phang-style table and the
summary. Figures live in xlt/figures.py."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from xlt.metrics import exact_match, f1
from xlt.plan import BASELINE
from xlt.stats import bootstrap_means, ci_and_p, holm

SYSTEM = ["model", "intermediate", "variant"]
PRIMARY = {"paws_x": "accuracy", "tydiqa": "f1"}  # the metric a table and its tests are about
AVG = "avg-xx"  # mean over the non-English languages


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


def aggregate(matrix: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (system, target, metric, language), plus the non-English average,
    the cross-lingual gap (en - avg-xx) and deltas of the means vs baseline and vs standard."""
    m = matrix[matrix["stage"] == "target"].copy()
    m.loc[m["metric"] == "accuracy", "value"] *= 100  # every table in points
    per_seed = m.pivot_table(index=[*SYSTEM, "target", "metric", "seed"], columns="language", values="value")
    others = [c for c in per_seed.columns if c != "en"]
    per_seed[AVG] = per_seed[others].mean(axis=1)  # per target, only its own languages are non-NaN
    per_seed["gap"] = per_seed["en"] - per_seed[AVG]
    long = per_seed.reset_index().melt(id_vars=[*SYSTEM, "target", "metric", "seed"], var_name="language").dropna()
    agg = long.groupby([*SYSTEM, "target", "metric", "language"])["value"].agg(["mean", "std", "count"]).reset_index()
    agg = agg.rename(columns={"count": "seeds"})
    keyed = agg.set_index([*SYSTEM, "target", "metric", "language"])["mean"]

    def lookup(row, inter, variant):
        return keyed.get((row["model"], inter, variant, row["target"], row["metric"], row["language"]), np.nan)

    agg["delta_vs_baseline"] = [r["mean"] - lookup(r, BASELINE, "standard") if r["intermediate"] != BASELINE else np.nan
                                for _, r in agg.iterrows()]
    agg["delta_vs_standard"] = [r["mean"] - lookup(r, r["intermediate"], "standard")
                                if r["variant"] != "standard" and r["intermediate"] != BASELINE else np.nan
                                for _, r in agg.iterrows()]
    return agg


def _seed_averaged(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{language: DataFrame [systems x examples]} of per-example scores averaged over seeds."""
    out = {}
    for lang, sub in scores.groupby("language"):
        table = sub.groupby([*SYSTEM, "example_id"])["value"].mean().unstack("example_id")
        if table.isna().any().any():
            raise ValueError(f"systems were evaluated on different {lang} examples; cannot pair them")
        out[lang] = table
    return out


def comparisons(scores: pd.DataFrame, replicates: int, seed: int) -> pd.DataFrame:
    """Paired bootstrap for every comparison of one target and metric: rows of (kind, system, reference,
    language, delta, ci_low, ci_high, p, p_holm), plus `system` rows: each system's mean and CI."""
    tables = _seed_averaged(scores)
    systems = list(next(iter(tables.values())).index)
    langs = list(tables)
    reps, means = {}, {}
    for lang, table in tables.items():
        assert list(table.index) == systems
        rng = np.random.default_rng([seed, zlib.crc32(lang.encode())])
        reps[lang] = bootstrap_means(table.to_numpy(dtype=np.float64), replicates, rng)
        means[lang] = table.to_numpy().mean(axis=1)
    non_en = [lang for lang in langs if lang != "en"]
    if non_en:
        reps[AVG] = np.mean([reps[lang] for lang in non_en], axis=0)
        means[AVG] = np.mean([means[lang] for lang in non_en], axis=0)
    index = {s: i for i, s in enumerate(systems)}

    pairs = []  # (kind, system, reference systems to average over)
    for s in systems:
        model, inter, variant = s
        if inter != BASELINE and (model, BASELINE, "standard") in index:
            pairs.append(("vs_baseline", s, [(s, (model, BASELINE, "standard"))]))
        if inter != BASELINE and variant != "standard" and (model, inter, "standard") in index:
            pairs.append(("vs_standard", s, [(s, (model, inter, "standard"))]))
    # pooled over intermediate tasks: is variant v better than standard, on average over tasks?
    for model, variant in sorted({(m, v) for m, i, v in systems if v != "standard" and i != BASELINE}):
        matched = [((m, i, v), (m, i, "standard")) for m, i, v in systems
                   if (m, v) == (model, variant) and i != BASELINE and (m, i, "standard") in index]
        if matched:
            pairs.append(("pooled_vs_standard", (model, "all tasks", variant), matched))

    rows = []
    for system in systems:  # each system's own mean with its bootstrap CI (figure whiskers)
        for lang in reps:
            dist = reps[lang][index[system]]
            lo, hi = np.quantile(dist, [0.025, 0.975])
            rows.append({"kind": "system", "model": system[0], "intermediate": system[1], "variant": system[2],
                         "reference": "", "language": lang, "delta": float(means[lang][index[system]]),
                         "ci_low": float(lo), "ci_high": float(hi), "p": np.nan})
    for kind, system, matched in pairs:
        for lang in reps:
            delta = float(np.mean([means[lang][index[a]] - means[lang][index[b]] for a, b in matched]))
            dist = np.mean([reps[lang][index[a]] - reps[lang][index[b]] for a, b in matched], axis=0)
            lo, hi, p = ci_and_p(delta, dist)
            rows.append({"kind": kind, "model": system[0], "intermediate": system[1], "variant": system[2],
                         "reference": "none/standard" if kind == "vs_baseline" else "standard",
                         "language": lang, "delta": delta, "ci_low": lo, "ci_high": hi, "p": p})
    out = pd.DataFrame(rows)
    # Holm families: each table (vs_baseline, vs_standard: all its rows and languages); the pooled answer
    # compares variants, separately per language
    family = out["kind"].where(out["kind"] != "pooled_vs_standard", out["kind"] + ":" + out["language"])
    out["p_holm"] = np.nan
    tested = out["kind"] != "system"
    out.loc[tested, "p_holm"] = out[tested].groupby(family[tested])["p"].transform(lambda p: holm(p.to_numpy()))
    return out


def phang_table(agg: pd.DataFrame, comps: pd.DataFrame, target: str, languages: list[str]) -> pd.DataFrame:
    """Rows: intermediate task x variant (baseline first); columns: en, each language, avg-xx. Cells are
    means over seeds in points; † = differs from the baseline, * = adversarial differs from standard on
    the same task (paired bootstrap, Holm-corrected p < 0.05)."""
    metric = PRIMARY[target]
    sub = agg[(agg["target"] == target) & (agg["metric"] == metric)]
    cols = ["en", *[lang for lang in languages if lang != "en"], AVG]
    sig = set()
    for _, c in comps[(comps["p_holm"] < 0.05)].iterrows():
        sig.add((c["model"], c["intermediate"], c["variant"], c["language"], c["kind"]))
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


def answer_sentence(target: str, comps: pd.DataFrame) -> str:
    """One sentence: did adversarial intermediate training help zero-shot transfer on this target?"""
    metric = {"accuracy": "accuracy", "f1": "F1"}[PRIMARY[target]]
    pooled = comps[(comps["kind"] == "pooled_vs_standard") & (comps["language"] == AVG)]
    if pooled.empty:
        return f"**{target}**: no adversarial variant was run, so the question is not answered for this target."
    best = pooled.loc[pooled["delta"].idxmax()]
    significant = best["p_holm"] < 0.05
    verdict = ("helped" if best["delta"] > 0 else "hurt") if significant else "did not significantly change"
    return (f"**{target}**: adversarial intermediate training {verdict} zero-shot transfer — the best variant, "
            f"`{best['variant']}`, changed the non-English average {metric} by {best['delta']:+.2f} points "
            f"(95% CI {best['ci_low']:+.2f} to {best['ci_high']:+.2f}; p = {best['p_holm']:.3g}, Holm-adjusted "
            f"over {len(pooled)} variant(s)) relative to standard intermediate training, averaged over "
            f"intermediate tasks.")


def summary_markdown(agg: pd.DataFrame, comps: dict[str, pd.DataFrame], targets: dict[str, list[str]],
                     replicates: int, demo: bool) -> str:
    lines = ["# Does adversarial English intermediate training improve zero-shot cross-lingual transfer?", ""]
    if demo:
        lines += ["> **Demo run.** These numbers come from the offline demo — a randomly initialised 2-layer Bloom "
                  "fine-tuned on synthetic fixtures — and are meaningless for the research question. Run the "
                  "study config for real answers.", ""]
    lines += ["## Answer", ""]
    lines += [f"- {answer_sentence(t, comps[t])}" for t in targets]
    lines += ["", f"Uncertainty: paired bootstrap over test examples ({replicates:,} replicates; seeds averaged "
              "per example), two-sided p-values with Holm correction within each table.", ""]
    for target, langs in targets.items():
        table = phang_table(agg, comps[target], target, langs)
        lines += [f"## {target}: {PRIMARY[target]} (points, mean over seeds)", "",
                  "† differs from the no-intermediate baseline; * adversarial variant differs from standard on "
                  "the same task (Holm-corrected p < 0.05).", "", to_markdown(table), ""]
    return "\n".join(lines)


def to_markdown(table: pd.DataFrame) -> str:
    header = [*table.index.names, *table.columns]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx, row in table.iterrows():
        out.append("| " + " | ".join([*map(str, idx), *map(str, row)]) + " |")
    return "\n".join(out)
