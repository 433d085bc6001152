"""Training curves from train_log.jsonl files: one tidy frame per run (loss, dev score, perturbation
size per step), the input of the training-curves figure."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

COLUMNS = ["step", "quantity", "value"]


def read_curves(path: str | Path) -> pd.DataFrame:
    """Rows (step, quantity, value) with quantity in: loss, dev (the selection score), and the
    perturbation ratios of xlt/adversarial/budgets.py (token_median, example_median, ...; adversarial runs only)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        step = record.get("step")
        if step is None:
            continue
        if "loss" in record and not record.get("skipped"):
            rows.append((step, "loss", record["loss"]))
        if "selection_score" in record:
            rows.append((step, "dev", record["selection_score"]))
        for key, value in (record.get("perturbation") or {}).items():
            rows.append((step, key, value))
    return pd.DataFrame(rows, columns=COLUMNS)


def collect(runs: list[dict], paths: list[str]) -> pd.DataFrame:
    """All runs' curves with their run keys (model, task, variant, seed) as columns."""
    frames = [read_curves(p).assign(**run) for run, p in zip(runs, paths)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def chance_by_task(runs: list[dict], metric_files: list[str]) -> dict[str, float]:
    """{intermediate task (a row of the figure): chance level of its dev selection score} from the runs'
    dev_metrics.json (xlt/data/chance.py); a multi-task run's score is the mean over its tasks, so is its chance."""
    from xlt.io import read_json

    out = {}
    for run, path in zip(runs, metric_files):
        levels = [c["value"] for c in read_json(path).get("chance", {}).values()]
        if levels:
            out.setdefault(run["task"], sum(levels) / len(levels))
    return out
