"""A tiny Bloom with a byte-level BPE tokenizer trained on the demo fixtures — no download.

The tokenizer is built with BLOOM's own pipeline, so every test sees the token boundaries and offsets the
real model produces (bigscience/bloom tokenizer.json and tokenizer_config.json, the same in every
bigscience/bloom-* repository): no normalizer; pre-tokenizer Split on BLOOM_SPLIT (behaviour isolated:
a whitespace-delimited word with its leading space is one pre-token) then ByteLevel(add_prefix_space=False,
use_regex=False); a BPE model; post-processor ByteLevel(trim_offsets=False), so a token that begins with
a space has an offset that includes the space; <unk> <s> </s> <pad> at ids 0-3; padding side left; no
BOS/EOS added to encodings. Only the vocabulary differs (BLOOM: 250,680 tokens trained on ROOTS)."""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import BloomConfig, BloomForCausalLM, PreTrainedTokenizerFast

from xlt.io import atomic_path

SPECIAL = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}  # ids 0, 1, 2, 3
BLOOM_SPLIT = " ?[^(\\s|[.,!?…。，、।۔،])]+"  # tokenizer.json pre_tokenizer.pretokenizers[0].pattern.Regex
PADDING_SIDE = "left"  # tokenizer_config.json


def bloom_pipeline(tok: Tokenizer) -> Tokenizer:
    """Give `tok` BLOOM's normalizer (none), pre-tokenizer, post-processor and decoder."""
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BLOOM_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)  # offsets keep the leading space
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts, vocab_size: int = 500) -> PreTrainedTokenizerFast:
    """A byte-level BPE of `vocab_size` tokens trained on `texts` (an iterable of strings), BLOOM's pipeline."""
    tok = bloom_pipeline(Tokenizer(models.BPE(unk_token=None)))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    # no add_bos_token/add_eos_token arguments: transformers would replace the post-processor by a template
    return PreTrainedTokenizerFast(tokenizer_object=tok, padding_side=PADDING_SIDE, **SPECIAL)


def build_tiny_bloom(texts: list[str], out_dir: str | Path, *, hidden_size: int = 64, n_layer: int = 2,
                     n_head: int = 4, vocab_size: int = 500, seed: int = 0) -> None:
    tokenizer = train_tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    config = BloomConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, n_layer=n_layer, n_head=n_head,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = BloomForCausalLM(config)
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
