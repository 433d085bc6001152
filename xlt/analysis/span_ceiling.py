"""summary.md's span-QA ceiling block: the table of results/report/span_ceiling.csv (made by the span_ceiling
rule with xlt/model/oracle.py) under its target's scores, and what it means for the language groups.
Pandas only: the summary's code fingerprint stays free of the model code."""
from __future__ import annotations

import pandas as pd


def _pct(x: float) -> str:
    return "–" if pd.isna(x) else f"{100 * x:.1f}"


def markdown(table: pd.DataFrame, target: str, groups: dict[str, list[str]] | None = None) -> str:
    """The ceiling of one target beside its score table: per model and language, and what it means for
    the language groups (their mean oracle F1 over their non-English members)."""
    rows = table[table["target"] == target]
    if rows.empty:
        return ""
    first = rows.iloc[0]
    lines = [f"#### {target}: span ceiling (oracle, no model run; results/report/span_ceiling.csv)", "",
             "What a perfect model scores through this project's featurisation, n-best span search and scoring with "
             "the model's own tokenizer (logits with all mass on the gold start and end tokens), and what it loses: "
             "gold answers starting or ending inside a token, answers longer than the cap, questions cut. "
             f"Lengths: max_answer_length {first['max_answer_length']}, max_query_length {first['max_query_length']} "
             f"({first['lengths']}); the coverage columns are for information only — test languages never choose them.", "",
             "| model | language | oracle EM | oracle F1 | gold boundary inside a token (%) | answers within the cap (%) "
             "| questions whole (%) |", "|---|---|---|---|---|---|---|"]
    for r in rows.itertuples(index=False):
        lines.append(f"| {r.model} | {r.language} | {r.oracle_exact_match:.1f} | {r.oracle_f1:.1f} | "
                     f"{_pct(r.boundary_inside_token)} | {_pct(1 - r.over_answer_cap)} | {_pct(1 - r.question_truncated)} |")
    lines.append("")
    for model, mine in rows.groupby("model", sort=True):
        by_lang = mine.set_index("language")["oracle_f1"]
        means = {g: by_lang[[m for m in members if m in by_lang.index and m != "en"]].mean()
                 for g, members in (groups or {}).items()}
        means = {g: v for g, v in means.items() if pd.notna(v)}
        if len(means) < 2:
            continue
        said = ", ".join(f"{g} {v:.1f}" for g, v in means.items())
        spread = max(means.values()) - min(means.values())
        lines += [f"Every system shares this ceiling, so it does not bias comparisons between systems, but it caps "
                  f"them: {model}'s mean oracle F1 per language group is {said}. A group's {target} scores are read "
                  f"against its own ceiling, not against 100 — {spread:.1f} points of the gap between the groups "
                  "would be there for a perfect model (tokenisation and length caps alone), and a group with a lower "
                  "ceiling has less room for any intermediate task or variant to show a difference.", ""]
    return "\n".join(lines)
