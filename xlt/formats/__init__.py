"""Featurisation, batching, loss and prediction per task format."""
from __future__ import annotations

import torch


def separator_ids(tokenizer) -> tuple[int, int]:
    """(separator between pair members, end-of-sequence): explicit ids the tokenizer keeps."""
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else end
    if sep is None or end is None:
        raise ValueError("tokenizer has neither an eos nor a sep token; set one to join sequence pairs")
    return sep, end


def pad_batch(sequences: list[list[int]], pad_id: int, padding_side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to the longest sequence; returns (input_ids, attention_mask)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        sl = slice(width - len(s), width) if padding_side == "left" else slice(0, len(s))
        ids[i, sl] = torch.tensor(s, dtype=torch.long)
        mask[i, sl] = 1
    return ids, mask


FORMATS = ("classification", "span_qa", "multiple_choice", "tagging")


def get_format(name: str):
    import importlib

    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return importlib.import_module(f"xlt.formats.{name}")
