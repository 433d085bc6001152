"""The span-QA ceiling: an oracle through the project's own featurisation, n-best search and scoring, and
the shares it loses (xlt/model/oracle.py); its block in summary.md (xlt/analysis/span_ceiling.py)."""
import pandas as pd
import pytest

from xlt.analysis import span_ceiling
from xlt.model import oracle
from xlt.demo.fixtures import make_split
from xlt.model.bloom_tokenizer import train_bloom_tokenizer
from xlt.model.formats import span_qa
from xlt.model.lengths import answer_lengths

QA = {"max_length": 96, "doc_stride": 32}


def _example(context, answer, qid="q"):
    return {"id": qid, "language": "en", "title": "t", "context": context, "question": "which one",
            "answer_texts": [answer], "answer_starts": [context.index(answer)]}


@pytest.fixture(scope="module")
def merging_tokenizer():
    """A BLOOM-pipeline BPE that has learnt ' betagamma' as one token: an answer 'beta' ends inside it."""
    return train_bloom_tokenizer(["alpha betagamma delta which one"] * 200, vocab_size=300)


def test_an_answer_ending_inside_a_merged_word_is_out_of_reach(merging_tokenizer):
    context = "alpha betagamma delta"
    assert "Ġbetagamma" in merging_tokenizer.convert_ids_to_tokens(merging_tokenizer(context)["input_ids"])
    examples = pd.DataFrame([_example(context, "beta", "inside"), _example(context, "delta", "whole")])
    offsets = merging_tokenizer(context, return_offsets_mapping=True)["offset_mapping"]
    assert oracle.boundary_inside_token(context, offsets, 6, 10)  # "beta" ends inside " betagamma"
    assert not oracle.boundary_inside_token(context, offsets, 16, 21)  # " delta": only the space before
    feats = span_qa.featurize(examples, merging_tokenizer, max_query_length=8, **QA)
    preds = span_qa.predictions(feats, oracle.oracle_logits(feats), examples)
    assert preds == {"inside": "betagamma", "whole": "delta"}  # token boundaries carry the suffix
    row = oracle.language_ceiling(examples, feats, merging_tokenizer, n_best=20, max_answer_length=30,
                                        max_query_length=8)
    assert row["oracle_exact_match"] == 50.0 and row["boundary_inside_token"] == 0.5
    assert row["over_answer_cap"] == 0.0 and row["question_truncated"] == 0.0


def test_ceiling_table_counts_what_the_caps_cut(tokenizer):
    """With caps no fixture reaches, the oracle scores 100 (demo words are whole pre-tokens); a cap of one
    token loses every longer answer, and the table says how many; a short question cap cuts questions."""
    examples = make_split("tydiqa", "test")
    langs = ["en", "ko"]
    examples = examples[examples["language"].isin(langs)]
    wide = span_qa.featurize(examples, tokenizer, max_query_length=64, **QA)
    free = oracle.ceiling_table(examples, wide, tokenizer, langs, qa={"n_best": 20, "max_answer_length": 1000},
                                      features_cfg={"max_query_length": 64}, lengths="as configured")
    assert (free["oracle_exact_match"] == 100.0).all() and (free["oracle_f1"] == 100.0).all()
    assert (free["boundary_inside_token"] == 0).all() and (free["over_answer_cap"] == 0).all()
    assert (free["question_truncated"] == 0).all()
    narrow = span_qa.featurize(examples, tokenizer, max_query_length=3, **QA)
    capped = oracle.ceiling_table(examples, narrow, tokenizer, langs, qa={"n_best": 20, "max_answer_length": 3},
                                        features_cfg={"max_query_length": 3}, lengths="as configured").set_index("language")
    for lang in langs:
        longer = (answer_lengths(examples[examples["language"] == lang], tokenizer) > 3).mean()
        assert longer > 0 and capped.loc[lang, "over_answer_cap"] == pytest.approx(longer)
        assert capped.loc[lang, "oracle_exact_match"] <= 100 * (1 - longer) + 1e-9
        assert capped.loc[lang, "question_truncated"] > 0


def test_summary_block_shows_the_table_and_what_it_means_for_the_groups():
    rows = pd.DataFrame([{"model": "m", "target": "tydiqa", "language": lang, "n": 10, "max_answer_length": 41,
                          "max_query_length": 19, "lengths": "auto: max_answer_length covers 99.5% of English train",
                          "oracle_exact_match": em, "oracle_f1": f1, "boundary_inside_token": 0.02,
                          "over_answer_cap": 0.01, "question_truncated": 0.1}
                         for lang, em, f1 in (("en", 99.0, 99.5), ("ar", 97.0, 98.0), ("fi", 90.0, 93.0))])
    text = span_ceiling.markdown(rows, "tydiqa", {"in_pretraining": ["ar", "sw"], "not_in_pretraining": ["fi", "ru"]})
    assert "max_answer_length 41, max_query_length 19 (auto: max_answer_length covers 99.5% of English train)" in text
    assert "| m | fi | 90.0 | 93.0 | 2.0 | 99.0 | 90.0 |" in text
    assert "in_pretraining 98.0, not_in_pretraining 93.0" in text and "5.0 points of the gap" in text
    assert span_ceiling.markdown(rows, "paws_x") == ""
