"""`auto` span-QA lengths (xlt/model/lengths.py): measured on English train with the model's tokenizer, and
read by featurisation, training and evaluation through the features."""
import json

import numpy as np
import pandas as pd
import pytest

from xlt.demo.fixtures import make_split
from xlt.model import lengths
from xlt.model.formats import span_qa
from xlt.steps.data import featurize, measure_lengths
from xlt.steps.train import task_spec


def test_covering_length_is_the_smallest_cap_that_covers_the_share():
    values = np.arange(1, 101)  # 1..100
    assert lengths.covering_length(values, 0.95) == 95
    assert lengths.covering_length(values, 0.951) == 96
    assert lengths.covering_length(values, 1.0) == 100
    assert lengths.covering_length(np.array([7]), 0.001) == 7
    assert lengths.coverage(values, 95) == pytest.approx(0.95)
    with pytest.raises(ValueError, match="no lengths"):
        lengths.covering_length(np.array([], dtype=int), 0.9)


def test_answer_lengths_are_the_spans_featurize_labels(tokenizer):
    """The measured length of an answer is exactly the token span the model must predict for it."""
    examples = make_split("tydiqa", "train")
    measured = lengths.answer_lengths(examples, tokenizer)
    feats = span_qa.featurize(examples, tokenizer, max_length=4096, doc_stride=128, max_query_length=64)
    labelled = (feats["end_position"] - feats["start_position"] + 1).to_numpy()
    assert len(measured) == len(examples) and (measured == labelled).all()
    assert measured.max() > 1


def test_choose_records_each_auto_key_and_the_quantiles(tokenizer):
    examples = make_split("squad", "train")
    record = lengths.choose(examples, tokenizer, {"max_answer_length": 0.5, "max_query_length": 1.0})
    answers, questions = lengths.answer_lengths(examples, tokenizer), lengths.question_lengths(examples, tokenizer)
    assert record["max_answer_length"] == lengths.covering_length(answers, 0.5) < answers.max()
    assert record["max_query_length"] == questions.max()
    assert record["coverage"] == {"max_answer_length": 0.5, "max_query_length": 1.0}
    assert record["quantiles"]["max_answer_length"]["1.0"] == answers.max()
    only = lengths.choose(examples, tokenizer, {"max_answer_length": 0.9})
    assert "max_query_length" not in only  # a fixed question cap is not chosen


def test_resolve_replaces_auto_and_names_what_is_missing():
    measured = {"max_answer_length": 41, "max_query_length": 19}
    assert lengths.resolve({"n_best": 20, "max_answer_length": "auto"}, measured, "qa") == \
        {"n_best": 20, "max_answer_length": 41}
    assert lengths.resolve({"max_answer_length": 30}, None, "qa") == {"max_answer_length": 30}  # nothing auto
    with pytest.raises(ValueError, match="qa: max_answer_length is `auto`, but no measured length"):
        lengths.resolve({"max_answer_length": "auto"}, {"max_query_length": 19}, "qa")


def test_measured_lengths_reach_featurize_training_and_evaluation(tiny_model_dir, tmp_path):
    """The measure step writes the chosen lengths; featurize cuts questions at them and keeps them with the
    features, where task_spec (training and evaluation) turns max_answer_length: auto into the number."""
    for split in ("train", "test"):
        make_split("tydiqa", split).to_parquet(tmp_path / f"{split}.parquet")
    out = tmp_path / "lengths.json"
    measure_lengths("tydiqa", str(tmp_path / "train.parquet"), str(tiny_model_dir),
                    {"max_answer_length": 0.9, "max_query_length": 0.5}, str(out))
    record = json.loads(out.read_text())
    assert record["task"] == "tydiqa" and record["split"] == "train" and record["max_query_length"] >= 1
    cfg = {"max_length": 96, "doc_stride": 32, "max_query_length": "auto"}
    featurize("tydiqa", str(tmp_path / "test.parquet"), str(tiny_model_dir), cfg, str(tmp_path / "f.parquet"),
              lengths=str(out))
    feats = pd.read_parquet(tmp_path / "f.parquet")
    assert feats.attrs["lengths"]["max_answer_length"] == record["max_answer_length"]
    assert (feats["context_offset"] - 1).max() == record["max_query_length"]  # questions cut at the chosen cap
    spec = task_spec("tydiqa", {"n_best": 10, "max_answer_length": "auto"}, lengths=feats.attrs["lengths"])
    assert spec.options["max_answer_length"] == record["max_answer_length"]
    with pytest.raises(ValueError, match="max_answer_length is `auto`"):
        task_spec("tydiqa", {"n_best": 10, "max_answer_length": "auto"})


def test_measuring_refuses_non_english_data(tiny_model_dir, tmp_path):
    """Strict zero-shot: `auto` lengths come from English training data only."""
    test = make_split("tydiqa", "test")
    mixed = pd.concat([make_split("tydiqa", "train"), test[test["language"] == "ar"].head(3)])
    mixed.to_parquet(tmp_path / "mixed.parquet")
    with pytest.raises(ValueError, match=r"non-English examples \(ar\).*English training data only"):
        measure_lengths("tydiqa", str(tmp_path / "mixed.parquet"), str(tiny_model_dir),
                        {"max_answer_length": 0.9}, str(tmp_path / "out.json"))
    assert not (tmp_path / "out.json").exists()
