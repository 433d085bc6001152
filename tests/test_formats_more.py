"""Multiple choice, tagging and multi-task pieces: featurisation, padding, mixing, head transfer."""
import pandas as pd
import pytest
import torch

from xlt.model.formats import multiple_choice, tagging
from xlt.model.modeling import build_model, head_spec
from xlt.train.loop import sampling_weights


def test_multiple_choice_scores_do_not_depend_on_padding_side(tiny_model_dir, tokenizer):
    df = pd.DataFrame({"id": ["a", "b"], "language": "en", "context": ["ab cd ef", "gh"],
                       "choices": [["x", "y z w", "v", "u u"], ["p", "q", "r r r r", "s"]], "label": [1, 2]})
    feats = multiple_choice.featurize(df, tokenizer, max_length=32)
    model = build_model(tiny_model_dir, {"t": head_spec("multiple_choice")}, seed=0).eval()
    scores = {}
    with torch.no_grad():
        for side in ("left", "right"):
            batch = multiple_choice.collate(feats, tokenizer.pad_token_id, side)
            logits = model(batch["input_ids"], batch["attention_mask"])
            scores[side] = multiple_choice.choice_scores(logits, batch["num_choices"])
    assert scores["right"].shape == (2, 4)
    torch.testing.assert_close(scores["left"], scores["right"], atol=1e-5, rtol=1e-5)


def test_multiple_choice_keeps_the_end_of_a_long_context(tokenizer):
    df = pd.DataFrame({"id": ["a"], "language": "en", "context": ["w " * 100 + "last"], "choices": [["c1", "c2"]], "label": [0]})
    (seqs,) = multiple_choice.featurize(df, tokenizer, max_length=20)["input_ids"]
    last = tokenizer(" last", add_special_tokens=False)["input_ids"]
    for seq in seqs:
        assert len(seq) <= 20 and seq[-1] == tokenizer.eos_token_id
        assert list(seq[:len(seq)]).count(tokenizer.eos_token_id) == 2  # separator + end
        sep = list(seq).index(tokenizer.eos_token_id)
        assert list(seq[sep - len(last):sep]) == last


def test_tagging_labels_the_last_subtoken_and_predicts_per_word(tokenizer):
    """Causal attention: only a word's last sub-token has seen the whole word, so the tag sits there."""
    words = ["supercalifragilistic", "ab", "."]
    df = pd.DataFrame({"id": ["s"], "language": "en", "tokens": [words], "tags": [["N", "NP", "."]]})
    labels = tagging.tag_vocabulary(df)
    f = tagging.featurize(df, tokenizer, max_length=64, labels=labels).iloc[0]
    pieces = [len(tokenizer(w if i == 0 else " " + w, add_special_tokens=False)["input_ids"]) for i, w in enumerate(words)]
    assert pieces[0] > 1  # a word of several sub-tokens: first and last differ
    ends = [sum(pieces[:i + 1]) - 1 for i in range(len(words))]
    assert list(f.word_ends) == ends
    labelled = [i for i, lab in enumerate(f.label_ids) if lab != tagging.IGNORE]
    assert labelled == ends  # exactly the last sub-token of each word
    assert [labels[f.label_ids[i]] for i in ends] == ["N", "NP", "."]
    # a logits tensor that puts the gold tag on every last sub-token predicts the gold tags; on the first
    # sub-tokens it would not
    feats = tagging.featurize(df, tokenizer, max_length=64, labels=labels)
    for positions, right in ((ends, True), ([0, pieces[0], pieces[0] + pieces[1]], False)):
        logits = torch.zeros(1, len(f.input_ids), len(labels))
        for pos, tag in zip(positions, ["N", "NP", "."]):
            logits[0, pos, labels.index(tag)] = 1.0
        preds = tagging.predictions(feats, [logits], df, labels=labels)
        assert (preds == {"s": ["N", "NP", "."]}) is right
    assert tagging.score({"s": ["N", "NP", "."]}, df) == {"accuracy": 1.0}


def test_tagging_truncated_words_count_as_wrong(tokenizer):
    df = pd.DataFrame({"id": ["s"], "language": "en", "tokens": [["a"] * 50], "tags": [["N"] * 50]})
    feats = tagging.featurize(df, tokenizer, max_length=10, labels=["N"])
    assert len(feats["word_ends"][0]) == 10
    preds = tagging.predictions(feats, [torch.zeros(1, 10, 1)], df, labels=["N"])
    assert tagging.score(preds, df)["accuracy"] == pytest.approx(10 / 50)


def test_unseen_dev_tag_is_ignored_in_loss_but_scored_wrong(tokenizer):
    train = pd.DataFrame({"id": ["t"], "language": "en", "tokens": [["a"]], "tags": [["N"]]})
    dev = pd.DataFrame({"id": ["d"], "language": "en", "tokens": [["a", "b"]], "tags": [["N", "RARE"]]})
    labels = tagging.tag_vocabulary(train)
    f = tagging.featurize(dev, tokenizer, max_length=16, labels=labels)
    assert f["label_ids"][0][f["word_ends"][0][1]] == tagging.IGNORE
    preds = tagging.predictions(f, [torch.zeros(1, len(f["input_ids"][0]), 1)], dev, labels=labels)
    assert tagging.score(preds, dev)["accuracy"] == 0.5


def test_sampling_weights_cap_and_temperature():
    sizes = {"big": 1_000_000, "mid": 100_000, "small": 10_000}
    assert sampling_weights(sizes) == pytest.approx({"big": 1e6 / 1.11e6, "mid": 1e5 / 1.11e6, "small": 1e4 / 1.11e6})
    capped = sampling_weights(sizes, cap=100_000)
    assert capped["big"] == pytest.approx(capped["mid"]) and capped["small"] == pytest.approx(1 / 21)
    hot = sampling_weights(sizes, temperature=2.0)
    assert hot["small"] > sampling_weights(sizes)["small"]
    assert sum(hot.values()) == pytest.approx(1.0)
