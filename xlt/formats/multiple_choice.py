"""Multiple choice for decoder-only models: each `context <sep> choice <eos>` sequence is scored from
its last real token (one scalar per choice) and the choices compete in a softmax."""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

from xlt.formats import pad_batch, separator_ids
from xlt.metrics import accuracy


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


def collate(features: pd.DataFrame, pad_id: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
    n_choices = {len(c) for c in features["input_ids"]}
    if len(n_choices) != 1:
        raise ValueError(f"examples in one batch have different numbers of choices: {sorted(n_choices)}")
    flat = [list(seq) for choices in features["input_ids"] for seq in choices]
    ids, mask = pad_batch(flat, pad_id, padding_side)
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(features["label"].values),
            "num_choices": torch.tensor(n_choices.pop())}


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
