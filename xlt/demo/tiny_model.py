"""A tiny Bloom with a byte-level BPE tokenizer trained on the demo fixtures — no download. The tokenizer
is built with BLOOM's own pipeline (xlt/model/bloom_tokenizer.py: bigscience/bloom tokenizer.json and
tokenizer_config.json), so every test sees the token boundaries and offsets the real model produces."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import BloomConfig, BloomForCausalLM

from xlt.io import atomic_path
from xlt.model.bloom_tokenizer import train_bloom_tokenizer


def build_tiny_bloom(texts: list[str], out_dir: str | Path, *, hidden_size: int = 64, n_layer: int = 2,
                     n_head: int = 4, vocab_size: int = 500, seed: int = 0) -> None:
    tokenizer = train_bloom_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    config = BloomConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, n_layer=n_layer, n_head=n_head,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = BloomForCausalLM(config)
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
