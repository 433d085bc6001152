"""BLOOM's tokenizer pipeline, for tokenizers trained here: the demo's tiny Bloom (xlt/demo/tiny_model.py)
and the TyDiQA-trained stand-in that measures span ceilings on real text (xlt/model/oracle.py).

As bigscience/bloom's tokenizer.json and tokenizer_config.json have it (the same in every bigscience/bloom-*
repository): no normalizer; pre-tokenizer Split on BLOOM_SPLIT (behaviour isolated: a whitespace-delimited
word with its leading space is one pre-token, so BPE merges run across the end of an answer when a suffix
follows it in the same word) then ByteLevel(add_prefix_space=False, use_regex=False); a BPE model;
post-processor ByteLevel(trim_offsets=False) — a token that begins with a space has an offset that
includes the space —; <unk> <s> </s> <pad> at ids 0-3; padding side left; no BOS/EOS added to encodings.
Only the vocabulary differs (BLOOM: 250,680 tokens trained on ROOTS)."""
from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}  # ids 0, 1, 2, 3
BLOOM_SPLIT = " ?[^(\\s|[.,!?…。，、।۔،])]+"  # tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex
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


def train_bloom_tokenizer(texts, vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE of `vocab_size` tokens trained on `texts` (an iterable of strings), BLOOM's pipeline."""
    tok = bloom_pipeline(Tokenizer(models.BPE(unk_token=None)))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    # no add_bos_token/add_eos_token arguments: transformers would replace the post-processor by a template
    return PreTrainedTokenizerFast(tokenizer_object=tok, padding_side=PADDING_SIDE, **SPECIAL)
