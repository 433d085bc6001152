import numpy as np
import pandas as pd
import pytest
import torch

from xlt.model.formats import classification, pad_batch, span_qa
from xlt.model.modeling import build_model, head_spec, last_token_index


def test_pair_layout_and_truncation(tokenizer):
    df = pd.DataFrame({"id": ["a"], "language": ["en"], "text_a": ["hello world " * 20], "text_b": ["short"], "label": [1]})
    feats = classification.featurize(df, tokenizer, max_length=24)
    ids = feats["input_ids"][0]
    assert len(ids) == 24
    assert ids[-1] == tokenizer.eos_token_id
    b = tokenizer("short", add_special_tokens=False)["input_ids"]
    assert ids[-1 - len(b):-1] == b and ids[-2 - len(b)] == tokenizer.eos_token_id  # separator kept before b


def test_last_token_index_for_both_padding_sides():
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert last_token_index(right).tolist() == [2, 4]
    assert last_token_index(left).tolist() == [4, 4]


def test_classification_scores_do_not_depend_on_padding_side(tiny_model_dir, tokenizer):
    model = build_model(tiny_model_dir, {"t": head_spec("classification", 3)}, seed=0).eval()
    seqs = [tokenizer("ab cd ef gh", add_special_tokens=False)["input_ids"], tokenizer("ab", add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        out = {side: model(*pad_batch(seqs, tokenizer.pad_token_id, side)) for side in ("left", "right")}
        alone = model(*pad_batch(seqs[1:], tokenizer.pad_token_id))
    torch.testing.assert_close(out["left"], out["right"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["right"][1:], alone, atol=1e-5, rtol=1e-5)


def _qa_example(context, answer, qid="q", question="where is it"):
    start = context.index(answer) if answer else None
    return {"id": qid, "language": "en", "title": "t", "context": context, "question": question,
            "answer_texts": [answer] if answer else [], "answer_starts": [start] if answer else []}


def test_windows_overlap_and_label_the_answer(tokenizer):
    context = " ".join(f"w{i}" for i in range(120)) + " target answer here " + " ".join(f"v{i}" for i in range(40))
    df = pd.DataFrame([_qa_example(context, "target answer")])
    feats = span_qa.featurize(df, tokenizer, max_length=64, doc_stride=16, max_query_length=8)
    assert len(feats) > 2 and all(len(i) <= 64 for i in feats["input_ids"])
    hits = feats[feats["start_position"] != feats["input_ids"].map(len) - 1]
    assert len(hits) >= 1
    for f in hits.itertuples():
        offs = np.asarray(f.offsets).reshape(-1, 2)
        assert span_qa.span_text(context, offs, f.start_position - f.context_offset, f.end_position - f.context_offset) == "target answer"
    # consecutive windows overlap by doc_stride tokens
    o0, o1 = (np.asarray(feats["offsets"][i]).reshape(-1, 2) for i in (0, 1))
    assert (o1[0] == o0[len(o0) - 16]).all()


def test_null_position_for_unanswerable(tokenizer):
    df = pd.DataFrame([_qa_example("nothing to see here", None)])
    f = span_qa.featurize(df, tokenizer, max_length=64, doc_stride=16, max_query_length=8).iloc[0]
    assert f.start_position == f.end_position == len(f.input_ids) - 1


def _logits_for(feats, start_tok, end_tok, null=False):
    out = []
    for f in feats.itertuples():
        lg = torch.zeros(len(f.input_ids), 2)
        if null:
            lg[len(f.input_ids) - 1] = 10.0
        else:
            lg[f.context_offset + start_tok, 0] = 5.0
            lg[f.context_offset + end_tok, 1] = 5.0
        out.append(lg.unsqueeze(0))
    return out


def test_nbest_postprocessing_and_no_answer(tokenizer):
    context = "alpha beta gamma delta"
    df = pd.DataFrame([_qa_example(context, "beta gamma")])
    feats = span_qa.featurize(df, tokenizer, max_length=64, doc_stride=16, max_query_length=8)
    f = feats.iloc[0]
    s, e = f.start_position - f.context_offset, f.end_position - f.context_offset
    preds = span_qa.predictions(feats, _logits_for(feats, s, e), df)
    assert preds == {"q": "beta gamma"}
    assert span_qa.score(preds, df) == {"exact_match": 100.0, "f1": 100.0}
    # span longer than max_answer_length is not allowed
    assert span_qa.predictions(feats, _logits_for(feats, s, e), df, max_answer_length=1)["q"] != "beta gamma"
    # SQuAD 2.0: the null score wins -> empty answer; SQuAD 1.1 never answers empty
    null_logits = _logits_for(feats, s, e, null=True)
    assert span_qa.predictions(feats, null_logits, df, allow_no_answer=True) == {"q": ""}
    assert span_qa.predictions(feats, null_logits, df, allow_no_answer=False)["q"] != ""


def test_span_head_masks_padding(tiny_model_dir, tokenizer):
    model = build_model(tiny_model_dir, {"t": head_spec("span_qa")}, seed=0).eval()
    ids, mask = pad_batch([[5, 6, 7, 8], [5, 6]], tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(ids, mask)
    assert logits.shape == (2, 4, 2)
    assert (logits[1, 2:] < -1e30).all()


@pytest.mark.parametrize("arch", ["bert", "gpt2", "bloom"])
@pytest.mark.parametrize("fmt", ["classification", "span_qa", "multiple_choice", "tagging"])
def test_heads_work_for_any_auto_model(arch, fmt, tmp_path):
    """The body is whatever AutoModel loads; heads only need hidden states and the mask."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model(arch, vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, n_embd=16, n_layer=1, n_head=2, n_positions=32,
                                  max_position_embeddings=32)
    AutoModel.from_config(config).save_pretrained(tmp_path)
    model = build_model(tmp_path, {"t": head_spec(fmt, 3)}, seed=0).eval()
    ids, mask = pad_batch([[5, 6, 7], [8, 9]], pad_id=0)
    with torch.no_grad():
        out = model(ids, mask)
        emb = model(inputs_embeds=model.embed(ids), attention_mask=mask)
    assert out.shape == {"classification": (2, 3), "span_qa": (2, 3, 2), "multiple_choice": (2, 1),
                         "tagging": (2, 3, 3)}[fmt]
    torch.testing.assert_close(out, emb)  # perturbation-ready: inputs_embeds gives the same result


def _reference_span_predictions(features, logits, examples, allow_no_answer=False, n_best=20, max_answer_length=30):
    """The nested-loop n-best search the vectorised one replaced (HF utils_qa style), as the spec."""
    per_feature = [row for chunk in logits for row in chunk.float().cpu().numpy()]
    contexts = dict(zip(examples["id"], examples["context"]))
    best, null_best = {}, {}
    for feat, lg in zip(features.itertuples(index=False), per_feature):
        start_lg, end_lg = lg[:, 0], lg[:, 1]
        n_ctx = len(feat.offsets) // 2
        offs = np.asarray(feat.offsets).reshape(n_ctx, 2)
        lo = feat.context_offset
        null = lo + n_ctx
        null_best[feat.example_id] = min(null_best.get(feat.example_id, np.inf), float(start_lg[null] + end_lg[null]))
        ctx_start, ctx_end = start_lg[lo:lo + n_ctx], end_lg[lo:lo + n_ctx]
        for s in np.argsort(ctx_start)[::-1][:n_best]:
            for e in np.argsort(ctx_end)[::-1][:n_best]:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(ctx_start[s] + ctx_end[e])
                if score > best.get(feat.example_id, (-np.inf, ""))[0]:
                    best[feat.example_id] = (score, span_qa.span_text(contexts[feat.example_id], offs, s, e))
    out = {}
    for ex_id in contexts:
        score, text = best.get(ex_id, (-np.inf, ""))
        if allow_no_answer and null_best.get(ex_id, np.inf) > score:
            text = ""
        out[ex_id] = text
    return out


def test_vectorised_n_best_equals_the_nested_loop_in_any_feature_order(tokenizer):
    rng = np.random.default_rng(0)
    long = " ".join(f"word{i}" for i in range(120))
    examples = pd.DataFrame({"id": [f"q{i}" for i in range(12)], "language": "en", "title": "",
                             "context": [long] * 12, "question": ["which word?"] * 12,
                             "answer_texts": [[]] * 12, "answer_starts": [[]] * 12})
    feats = span_qa.featurize(examples, tokenizer, max_length=48, doc_stride=16, max_query_length=8)
    assert feats["example_id"].duplicated().any()  # several windows per example
    for trial in range(20):
        width = max(map(len, feats["input_ids"]))
        lg = rng.normal(size=(len(feats), width, 2)).astype(np.float32)
        if trial % 2:  # plenty of exact ties: few distinct logit values
            lg = np.round(lg).astype(np.float32)
        logits = [torch.from_numpy(lg[i:i + 5]) for i in range(0, len(feats), 5)]
        for options in ({}, {"allow_no_answer": True, "n_best": 5, "max_answer_length": 3}):
            ref = _reference_span_predictions(feats, logits, examples, **options)
            assert span_qa.predictions(feats, logits, examples, **options) == ref
            order = rng.permutation(len(feats))  # evaluation reorders features by length
            shuffled = [torch.from_numpy(lg[order][i:i + 5]) for i in range(0, len(feats), 5)]
            assert span_qa.predictions(feats.iloc[order], shuffled, examples, **options) == ref
