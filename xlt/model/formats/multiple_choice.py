"""Multiple choice for decoder-only models: each `context <sep> choice <eos>` sequence is scored from
its last real token (one scalar per choice) and the choices compete in a softmax."""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

import numpy as np

from xlt.model.formats.common import Ragged, separator_ids
from xlt.model.metrics import accuracy


def featurize(examples: pd.DataFrame, tokenizer, max_length: int, **_) -> pd.DataFrame:
    sep, end = separator_ids(tokenizer)
    contexts = tokenizer(examples["context"].tolist(), add_special_tokens=False)["input_ids"]
    input_ids = []
    for ctx, choices in zip(contexts, examples["choices"]):
        seqs = []
        for choice in tokenizer(list(choices), add_special_tokens=False)["input_ids"]:
            choice = choice[:max_length // 2]
            keep = max_length - 2 - len(choice)
            seqs.append(ctx[-keep:] + [sep] + choice + [end])  # keep the context's end: it leads into the choice
        input_ids.append(seqs)
    return pd.DataFrame({"example_id": examples["id"].values, "language": examples["language"].values,
                         "input_ids": input_ids, "label": examples["label"].astype(int).values})


def arrays(features: pd.DataFrame) -> dict:
    """Every (context, choice) sequence in one Ragged (`input_ids`, as for the other formats); example i owns
    sequences first[i]:first[i]+n[i]."""
    n = features["input_ids"].map(len).to_numpy(np.int64)
    first = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    seqs = Ragged.from_lists([seq for choices in features["input_ids"] for seq in choices])
    return {"input_ids": seqs, "first": first, "n": n, "label": features["label"].to_numpy(np.int64)}


def collate_arrays(a: dict, idx, pad_id: int, padding_side: str = "right", multiple_of: int | None = None) -> dict:
    idx = np.asarray(idx)
    n_choices = set(a["n"][idx].tolist())
    if len(n_choices) != 1:
        raise ValueError(f"examples in one batch have different numbers of choices: {sorted(n_choices)}")
    k = n_choices.pop()
    rows = (a["first"][idx][:, None] + np.arange(k)[None, :]).ravel()
    ids, mask = a["input_ids"].pad(rows, pad_id, padding_side, multiple_of)
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(a["label"][idx]), "num_choices": torch.tensor(k)}


def collate(features: pd.DataFrame, pad_id: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
    return collate_arrays(arrays(features), np.arange(len(features)), pad_id, padding_side)


def lengths(a: dict) -> np.ndarray:
    """Per example, its longest choice sequence (what its rows are padded to)."""
    seq = a["input_ids"].lengths
    return np.maximum.reduceat(seq, a["first"]) if len(seq) else np.zeros(0, np.int64)


def choice_scores(logits: torch.Tensor, num_choices: int) -> torch.Tensor:
    """Head output for (examples x choices) sequences -> [examples, choices]."""
    return logits.float().view(-1, int(num_choices))


def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    return F.cross_entropy(choice_scores(logits, batch["num_choices"]), batch["labels"])


def predictions(features: pd.DataFrame, logits: list[torch.Tensor], examples: pd.DataFrame, **_) -> dict:
    n = len(features["input_ids"].iloc[0])
    picks = torch.cat([choice_scores(lg, n) for lg in logits]).argmax(-1).tolist()
    return dict(zip(features["example_id"], picks))


def score(predictions: dict, examples: pd.DataFrame, **_) -> dict[str, float]:
    return accuracy(predictions, dict(zip(examples["id"], examples["label"].astype(int))))


def distributions(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """One distribution over the choices per example."""
    scores = choice_scores(logits, batch["num_choices"])
    return scores, torch.ones(scores.shape[0], device=scores.device)
