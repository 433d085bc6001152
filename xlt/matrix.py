"""The tidy results matrix: one row per (model, intermediate, variant, target, seed, language, metric)."""
from __future__ import annotations

import pandas as pd

from xlt.provenance import matrix_columns

RUN_KEYS = ["model", "intermediate", "variant", "target", "seed", "language"]
PROVENANCE = ["model_commit", "dataset_revisions", "code", "variant_blocks"]


def matrix_from_records(records: list[dict]) -> pd.DataFrame:
    """records: {model, intermediate, variant, target, seed, language, n_examples, metrics, [stage],
    [provenance]}; provenance becomes the columns of xlt.provenance.matrix_columns."""
    rows = [{**{k: r[k] for k in RUN_KEYS}, "stage": r.get("stage", "target"), "metric": m, "value": float(v),
             "n_examples": r.get("n_examples"), **matrix_columns(r.get("provenance", {}))}
            for r in records for m, v in r["metrics"].items()]
    df = pd.DataFrame(rows, columns=RUN_KEYS + ["stage", "metric", "value", "n_examples", *PROVENANCE])
    return df.sort_values(["stage", *RUN_KEYS, "metric"]).reset_index(drop=True)


def intermediate_records(path: str) -> list[dict]:
    """Rows for an intermediate run's dev metrics: target = the task scored, language = en.

    The run's identity comes from its path: results/intermediate/{model}/{inter}/{variant}/seed{seed}/."""
    from pathlib import Path

    from xlt.io import read_json

    parts = Path(path).parts
    model, inter, variant, seed = parts[-5], parts[-4], parts[-3], int(parts[-2].removeprefix("seed"))
    record = read_json(path)
    return [{"model": model, "intermediate": inter, "variant": variant, "target": task, "seed": seed,
             "language": "en", "stage": "intermediate", "provenance": record.get("provenance", {}),
             "metrics": {k: v for k, v in m.items() if k != "step"}} for task, m in record["metrics"].items()]


def pivot(matrix: pd.DataFrame, target: str) -> pd.DataFrame:
    """One target's results, mean over seeds: rows = (metric, model, intermediate, variant), columns =
    languages (English first) and `avg-xx`, the mean over the non-English languages."""
    sub = matrix[(matrix["target"] == target) & (matrix["stage"] == "target")]
    table = sub.pivot_table(index=["metric", "model", "intermediate", "variant"], columns="language",
                            values="value", aggfunc="mean")
    others = sorted(c for c in table.columns if c != "en")
    table = table[["en", *others] if "en" in table.columns else others]
    table["avg-xx"] = table[others].mean(axis=1)
    table.columns.name = None
    return table.round(3)


def format_pivot(path: str) -> str:
    matrix = pd.read_parquet(path)
    targets = sorted(matrix.loc[matrix["stage"] == "target", "target"].unique())
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 500):
        return "\n\n".join(f"== {t} ==\n{pivot(matrix, t).to_string()}" for t in targets)
