"""Step of rules/report.smk: the tidy results matrix."""
from __future__ import annotations

import pandas as pd

from xlt.io import atomic_path, read_json, write_parquet


def build_matrix(metric_files: list[str], intermediate_files: list[str], out_parquet: str, out_csv: str) -> pd.DataFrame:
    """Zero-shot target metrics (stage=target) and intermediate dev metrics (stage=intermediate)."""
    from xlt.matrix import intermediate_records, matrix_from_records

    records = [read_json(p) for p in metric_files] + [r for p in intermediate_files for r in intermediate_records(p)]
    matrix = matrix_from_records(records)
    write_parquet(matrix, out_parquet)
    with atomic_path(out_csv) as tmp:
        matrix.to_csv(tmp, index=False)
    return matrix
