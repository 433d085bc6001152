"""Sequence-pair classification: `text_a <sep> text_b <eos>`, scored from the last real token."""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

import numpy as np

from xlt.model.formats.common import Ragged, separator_ids
from xlt.model.metrics import accuracy, binary_f1


def featurize(examples: pd.DataFrame, tokenizer, max_length: int, **_) -> pd.DataFrame:
    sep, end = separator_ids(tokenizer)
    enc_a = tokenizer(examples["text_a"].tolist(), add_special_tokens=False)["input_ids"]
    enc_b = tokenizer(examples["text_b"].tolist(), add_special_tokens=False)["input_ids"]
    input_ids = []
    for a, b in zip(enc_a, enc_b):
        while len(a) + len(b) > max_length - 2:  # truncate the longer member first
            if len(a) >= len(b):
                a = a[:-1]
            else:
                b = b[:-1]
        input_ids.append(a + [sep] + b + [end])
    return pd.DataFrame({"example_id": examples["id"].values, "language": examples["language"].values,
                         "input_ids": input_ids, "label": examples["label"].astype(int).values})


def arrays(features: pd.DataFrame) -> dict:
    return {"input_ids": Ragged.from_lists(features["input_ids"]), "label": features["label"].to_numpy(np.int64)}


def collate_arrays(a: dict, idx, pad_id: int, padding_side: str = "right", multiple_of: int | None = None) -> dict:
    ids, mask = a["input_ids"].pad(idx, pad_id, padding_side, multiple_of)
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(a["label"][np.asarray(idx)])}


def collate(features: pd.DataFrame, pad_id: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
    return collate_arrays(arrays(features), np.arange(len(features)), pad_id, padding_side)


def lengths(a: dict) -> np.ndarray:
    return a["input_ids"].lengths


def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    return F.cross_entropy(logits.float(), batch["labels"])


def predictions(features: pd.DataFrame, logits: list[torch.Tensor], examples: pd.DataFrame, **_) -> dict:
    """{example id: predicted label} (one feature per example)."""
    labels = torch.cat(logits).argmax(-1).tolist()
    return dict(zip(features["example_id"], labels))


def score(predictions: dict, examples: pd.DataFrame, *, binary_f1_score: bool = False, **_) -> dict[str, float]:
    labels = dict(zip(examples["id"], examples["label"].astype(int)))
    return {**accuracy(predictions, labels), **(binary_f1(predictions, labels) if binary_f1_score else {})}


def distributions(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of categorical logits and their weights, for KL-based regularisers (SMART, R3F)."""
    return logits.float(), torch.ones(logits.shape[0], device=logits.device)
