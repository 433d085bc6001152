"""The demo's tokenizer is built with BLOOM's pipeline (bigscience/bloom tokenizer.json, tokenizer_config.json),
so the offline tests see the offsets the real model produces."""
import json

import numpy as np
import pandas as pd

from xlt.model.formats import span_qa

BLOOM_REGEX = " ?[^(\\s|[.,!?…。，、।۔،])]+"  # as published, not imported: the test is the spec


def test_the_saved_demo_tokenizer_has_blooms_pipeline(tiny_model_dir):
    saved = json.loads((tiny_model_dir / "tokenizer.json").read_text())
    assert saved["normalizer"] is None
    assert saved["model"]["type"] == "BPE"
    split, byte_level = saved["pre_tokenizer"]["pretokenizers"]
    assert split == {"type": "Split", "pattern": {"Regex": BLOOM_REGEX}, "behavior": "Isolated", "invert": False}
    assert byte_level["type"] == "ByteLevel" and byte_level["add_prefix_space"] is False and byte_level["use_regex"] is False
    assert saved["post_processor"]["type"] == "ByteLevel" and saved["post_processor"]["trim_offsets"] is False
    assert [t["content"] for t in sorted(saved["added_tokens"], key=lambda t: t["id"])] == ["<unk>", "<s>", "</s>", "<pad>"]
    assert [t["id"] for t in sorted(saved["added_tokens"], key=lambda t: t["id"])] == [0, 1, 2, 3]
    assert json.loads((tiny_model_dir / "tokenizer_config.json").read_text())["padding_side"] == "left"


def test_loaded_tokenizer_behaves_like_blooms(tokenizer):
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (0, 1, 2, 3)
    assert tokenizer.padding_side == "left"
    text = "the cat's hat, ok"
    enc = tokenizer(text, return_offsets_mapping=True)
    assert not {0, 1, 2, 3} & set(enc["input_ids"])  # no BOS/EOS added
    # one pre-token per whitespace-delimited word with its leading space; the listed punctuation splits off
    pieces = [p for p, _ in tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]
    assert pieces == ["the", "Ġcat's", "Ġhat", ",", "Ġok"]
    # a token that begins with a space has an offset that includes the space (trim_offsets=False)
    starts = {s for s, _ in enc["offset_mapping"]}
    assert text.index(" cat") in starts and text.index("cat") not in starts
    assert text.index(" ok") in starts


def test_span_labels_and_answer_text_with_the_leading_space_in_the_offsets(tokenizer):
    context = "alpha beta gamma delta"
    df = pd.DataFrame([{"id": "q", "language": "en", "title": "t", "context": context, "question": "which",
                        "answer_texts": ["beta gamma"], "answer_starts": [context.index("beta")]}])
    f = span_qa.featurize(df, tokenizer, max_length=64, doc_stride=16, max_query_length=8).iloc[0]
    offs = np.asarray(f.offsets).reshape(-1, 2)
    s, e = f.start_position - f.context_offset, f.end_position - f.context_offset
    assert offs[s][0] == context.index(" beta")  # the labelled start token carries the space before the answer
    assert span_qa.span_text(context, offs, s, e) == "beta gamma"
