"""Token tagging (CCG supertagging): one label per word, predicted on the word's last sub-token.

Decoder-only models: under causal attention only a word's last sub-token has seen the whole word (its
first has seen none of the rest of it), so the label sits there (/work/shared/DESIGN.md, "Decoder-only
heads"). Known limit: no token sees the words to its right, so tags that depend on the right context are
harder than for bidirectional encoders (which label the first sub-token, as XTREME and jiant do)."""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F

import numpy as np

from xlt.model.formats.common import Ragged
from xlt.model.metrics import token_accuracy

IGNORE = -100  # sub-tokens before a word's last and truncated words carry no label


def tag_vocabulary(train_examples: pd.DataFrame) -> list[str]:
    """Tags seen in training, sorted (the head's label order); dev tags outside it are always wrong."""
    return sorted({t for tags in train_examples["tags"] for t in tags})


def featurize(examples: pd.DataFrame, tokenizer, max_length: int, labels: list[str], **_) -> pd.DataFrame:
    index = {t: i for i, t in enumerate(labels)}
    input_ids, label_ids, word_ends = [], [], []
    for words, tags in zip(examples["tokens"], examples["tags"]):
        # words after the first carry their leading space, as in running text
        pieces = tokenizer([w if i == 0 else " " + w for i, w in enumerate(words)], add_special_tokens=False)["input_ids"]
        ids, labs, ends = [], [], []
        for piece, tag in zip(pieces, tags):
            if len(ids) + len(piece) > max_length:
                break  # truncated words get no prediction and are scored wrong
            ids += piece
            ends.append(len(ids) - 1)
            labs += [IGNORE] * (len(piece) - 1) + [index.get(tag, IGNORE)]
        input_ids.append(ids)
        label_ids.append(labs)
        word_ends.append(ends)
    out = pd.DataFrame({"example_id": examples["id"].values, "language": examples["language"].values,
                        "input_ids": input_ids, "label_ids": label_ids, "word_ends": word_ends})
    out.attrs["labels"] = list(labels)
    return out


def arrays(features: pd.DataFrame) -> dict:
    return {"input_ids": Ragged.from_lists(features["input_ids"]), "label_ids": Ragged.from_lists(features["label_ids"])}


def collate_arrays(a: dict, idx, pad_id: int, padding_side: str = "right", multiple_of: int | None = None) -> dict:
    if padding_side != "right":
        raise ValueError("tag positions index from the left: right padding only")
    ids, mask = a["input_ids"].pad(idx, pad_id, "right", multiple_of)
    labels, _ = a["label_ids"].pad(idx, IGNORE, "right", width=ids.shape[1])
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(labels)}


def collate(features: pd.DataFrame, pad_id: int) -> dict[str, torch.Tensor]:
    return collate_arrays(arrays(features), np.arange(len(features)), pad_id)


def lengths(a: dict) -> np.ndarray:
    return a["input_ids"].lengths


def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)


def predictions(features: pd.DataFrame, logits: list[torch.Tensor], examples: pd.DataFrame, *,
                labels: list[str], **_) -> dict:
    """{sentence id: [predicted tag per word]}; words cut by truncation get no tag (scored wrong)."""
    out, rows = {}, features.itertuples(index=False)
    for chunk in logits:
        for best, f in zip(chunk.float().argmax(-1), rows):
            out[f.example_id] = [labels[int(best[p])] for p in f.word_ends]
    return out


def score(predictions: dict, examples: pd.DataFrame, **_) -> dict[str, float]:
    return token_accuracy(predictions, dict(zip(examples["id"], examples["tags"])))


def distributions(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """One tag distribution per token, weighted by the real-token mask."""
    return logits.float().flatten(0, 1), batch["attention_mask"].flatten().float()
