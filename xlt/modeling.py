"""A task model = any Hugging Face body (AutoModel) + a small format-specific head.

Keeping the head outside the body lets the body carry over between stages (intermediate -> target,
with a fresh head as in Phang et al. 2020) and lets perturbations act on `inputs_embeds`.
Checkpoint = body via save_pretrained (safetensors) + tokenizer + head.safetensors + head.json."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer

from xlt.io import atomic_path, read_json, write_json


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token per row; correct for left and right padding alike."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (positions + 1)).argmax(dim=1)


class ClassificationHead(nn.Module):
    """Pools the last non-pad token: under causal attention it is the only one that saw the whole pair."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(attention_mask)]
        return self.out(self.dropout(pooled))


class SpanHead(nn.Module):
    """Start/end logits per token; pad positions get -inf-like scores."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.out = nn.Linear(hidden_size, 2)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.out(hidden).float()
        return logits.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(logits.dtype).min)


def make_head(fmt: str, hidden_size: int, num_labels: int = 0) -> nn.Module:
    if fmt == "classification":
        return ClassificationHead(hidden_size, num_labels)
    if fmt == "span_qa":
        return SpanHead(hidden_size)
    raise ValueError(f"no head for format {fmt!r}")


class TaskModel(nn.Module):
    def __init__(self, body: nn.Module, head: nn.Module, head_spec: dict):
        super().__init__()
        self.body, self.head, self.head_spec = body, head, head_spec

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.body.get_input_embeddings()(input_ids)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None) -> torch.Tensor:
        out = self.body(input_ids=None if inputs_embeds is not None else input_ids,
                        inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False)
        return self.head(out.last_hidden_state, attention_mask)


def hidden_size_of(body: nn.Module) -> int:
    return body.get_input_embeddings().embedding_dim


def build_model(body_path: str | Path, fmt: str, num_labels: int = 0, seed: int = 0) -> TaskModel:
    """Body from a checkpoint or model snapshot, and a freshly initialised head (seeded)."""
    body = AutoModel.from_pretrained(body_path, dtype=torch.float32)
    torch.manual_seed(seed)
    spec = {"format": fmt, "num_labels": num_labels}
    return TaskModel(body, make_head(fmt, hidden_size_of(body), num_labels), spec)


def load_model(path: str | Path) -> TaskModel:
    """A checkpoint written by save_checkpoint, head included."""
    path = Path(path)
    spec = read_json(path / "head.json")
    model = build_model(path, spec["format"], spec["num_labels"])
    model.head.load_state_dict(load_file(path / "head.safetensors"))
    return model


def load_tokenizer(path: str | Path):
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:  # many decoder-only tokenizers have none; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def save_checkpoint(model: TaskModel, tokenizer, out_dir: str | Path) -> None:
    with atomic_path(out_dir) as tmp:
        model.body.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.head.state_dict().items()},
                  tmp / "head.safetensors")
        write_json(model.head_spec, tmp / "head.json")
