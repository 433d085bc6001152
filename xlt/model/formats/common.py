"""What the four formats share: the pair separator, ragged token arrays and padding."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def separator_ids(tokenizer) -> tuple[int, int]:
    """(separator between pair members, end-of-sequence): explicit ids the tokenizer keeps."""
    end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else end
    if sep is None or end is None:
        raise ValueError("tokenizer has neither an eos nor a sep token; set one to join sequence pairs")
    return sep, end


@dataclass
class Ragged:
    """Variable-length integer sequences: all values in one flat array, sequence i = flat[offsets[i]:offsets[i+1]]."""
    flat: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_lists(cls, sequences) -> "Ragged":
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(sequences) else np.zeros(0, np.int64)
        return cls(flat, offsets)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def pad(self, idx: np.ndarray, pad_value: int, padding_side: str = "right", multiple_of: int | None = None,
            width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(values [n, width], mask [n, width]) of sequences `idx`, padded on `padding_side`."""
        idx = np.asarray(idx, dtype=np.int64)
        lengths = self.offsets[idx + 1] - self.offsets[idx]
        if width is None:
            width = int(lengths.max()) if len(idx) else 0
            if multiple_of:
                width = -(-width // multiple_of) * multiple_of
        rows = np.repeat(np.arange(len(idx)), lengths)
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = within + (np.repeat(width - lengths, lengths) if padding_side == "left" else 0)
        values = np.full((len(idx), width), pad_value, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        values[rows, cols] = self.flat[np.repeat(self.offsets[idx], lengths) + within]
        mask[rows, cols] = 1
        return values, mask


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
