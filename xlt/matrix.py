"""The tidy results matrix: one row per (model, intermediate, variant, target, seed, language, metric)."""
from __future__ import annotations

import pandas as pd

RUN_KEYS = ["model", "intermediate", "variant", "target", "seed", "language"]


def matrix_from_records(records: list[dict]) -> pd.DataFrame:
    rows = [{**{k: r[k] for k in RUN_KEYS}, "stage": "target", "metric": m, "value": float(v),
             "n_examples": r["n_examples"]}
            for r in records for m, v in r["metrics"].items()]
    df = pd.DataFrame(rows, columns=RUN_KEYS + ["stage", "metric", "value", "n_examples"])
    return df.sort_values(RUN_KEYS + ["metric"]).reset_index(drop=True)


def pivot(matrix: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds; rows = (target, metric, model, intermediate, variant), columns = language."""
    table = matrix.pivot_table(index=["target", "metric", "model", "intermediate", "variant"],
                               columns="language", values="value", aggfunc="mean")
    return table.round(3)


def format_pivot(path: str) -> str:
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 500):
        return pivot(pd.read_parquet(path)).to_string()
