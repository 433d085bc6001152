"""Chance level of a task's English dev score: what the best constant prediction scores there.

A run whose dev score (its selected checkpoint's, the one the matrix reports) is at or below chance +
COLLAPSE_MARGIN points learned nothing usable: it is flagged `collapsed` (xlt/analysis/matrix.py). Per format, on
the dev split itself, in points (0-100) of the task's selection metric:
  classification   the majority class's share (never below 1 / num_labels)
  multiple choice  the most frequent answer position's share (never below the mean 1 / num_choices)
  span QA          0 — F1 of an empty answer — or, where no-answer examples exist (SQuAD 2.0), their
                   share: an always-empty prediction scores 100 on those and 0 elsewhere
  tagging          the most frequent tag's share of the words (token accuracy of a constant tag)"""
from __future__ import annotations

from collections import Counter

import pandas as pd

COLLAPSE_MARGIN = 2.0  # points


def chance_level(task_name: str, dev: pd.DataFrame) -> dict:
    """{metric, value (points), rule} of the task's dev split (normalised schema, xlt/data/schemas.py)."""
    from xlt.data.tasks import get_task

    task = get_task(task_name)
    metric, n = task.selection_metric, max(1, len(dev))
    if task.format == "classification":
        share = dev["label"].value_counts().max() / n if len(dev) else 0.0
        value, rule = max(share, 1 / max(1, task.num_labels)), "majority class of the dev split (>= 1/num_labels)"
    elif task.format == "multiple_choice":
        share = dev["label"].value_counts().max() / n if len(dev) else 0.0
        uniform = float(dev["choices"].map(lambda c: 1 / len(c)).mean()) if len(dev) else 0.0
        value, rule = max(share, uniform), "most frequent answer position of the dev split (>= 1/num_choices)"
    elif task.format == "span_qa":
        empty = float(dev["answer_texts"].map(len).eq(0).mean()) if len(dev) else 0.0
        value, rule = empty, "an always-empty answer (0 unless the dev split has no-answer examples)"
    elif task.format == "tagging":
        tags = Counter(t for row in dev["tags"] for t in row)
        total = sum(tags.values())
        value, rule = (max(tags.values()) / total if total else 0.0), "most frequent tag's share of the dev words"
    else:
        raise ValueError(f"no chance level for format {task.format!r}")
    return {"metric": metric, "value": round(100 * float(value), 6), "rule": rule}


def collapsed(score_points: float, chance_points: float, margin: float = COLLAPSE_MARGIN) -> bool:
    return bool(score_points <= chance_points + margin)
