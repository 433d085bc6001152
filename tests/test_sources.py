import json
import time

import pandas as pd
import pytest

from xlt.hub import HubUnavailable
from xlt.schemas import SchemaError
from xlt.sources import SourceError, prepare_split
from xlt.tasks import get_task


def test_paws_x_local_files_drop_quirky_rows(tmp_path):
    raw = pd.DataFrame({"id": [1, 2, 3, 4], "sentence1": ["a b", "", "c d", "e f"],
                        "sentence2": ["a b", "x", "d c", "g"], "label": [1, 0, -1, 0]})
    raw.to_parquet(tmp_path / "en_train.parquet")
    src = {"local": {"format": "parquet", "files": {"en.train": str(tmp_path / "en_train.parquet")}}}
    df = prepare_split(get_task("paws_x"), src, "train")
    assert df["text_a"].tolist() == ["a b", "e f"]  # empty sentence and label -1 dropped
    assert set(df["language"]) == {"en"} and df["id"].is_unique


def test_paws_x_test_split_keeps_each_language(tmp_path):
    files = {}
    for lang in ("en", "de", "ja"):
        p = tmp_path / f"{lang}.jsonl"
        p.write_text("\n".join(json.dumps({"id": i, "sentence1": f"{lang}{i}", "sentence2": "s", "label": i % 2})
                               for i in range(3)))
        files[f"{lang}.test"] = str(p)
    task = get_task("paws_x")
    with pytest.raises(SourceError, match=r"lacks raw key\(s\) \['es.test'"):
        prepare_split(task, {"local": {"format": "json", "files": files}}, "test")


def test_squad_local_json_and_offset_check(tmp_path):
    rows = [{"id": "1", "title": "T", "context": "Paris is in France.", "question": "Where?",
             "answers": {"text": ["France"], "answer_start": [12]}}]
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps(rows[0]))
    src = {"local": {"format": "json", "files": {"train": str(p)}}}
    df = prepare_split(get_task("squad"), src, "train")
    assert list(df.loc[0, "answer_texts"]) == ["France"]
    rows[0]["answers"]["answer_start"] = [10]
    p.write_text(json.dumps(rows[0]))
    with pytest.raises(SchemaError, match=r"example '1': context\[10:\] starts with 'n Fran'"):
        prepare_split(get_task("squad"), src, "train")


def test_missing_local_file_is_named(tmp_path):
    src = {"local": {"format": "squad_json", "files": {"train": str(tmp_path / "nope.json")}}}
    with pytest.raises(SourceError, match=r"datasets.tydiqa.local.files.train: .*nope.json does not exist"):
        prepare_split(get_task("tydiqa"), src, "train")


def test_non_english_training_data_is_refused(tmp_path, fixtures_dir):
    df = pd.read_parquet(fixtures_dir / "paws_x" / "test.parquet")
    (tmp_path / "train.parquet").write_bytes((fixtures_dir / "paws_x" / "train.parquet").read_bytes())
    df.to_parquet(tmp_path / "dev.parquet")  # a user mistake: multilingual rows in the dev split
    with pytest.raises(SourceError, match="must be English only"):
        prepare_split(get_task("paws_x"), {"normalised": str(tmp_path)}, "dev")


@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "https://hub.invalid"}],
                         ids=["HF_HUB_OFFLINE", "no-network"])
def test_hub_dataset_fails_fast_offline(monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    t0 = time.monotonic()
    with pytest.raises(HubUnavailable, match=r"nyu-mll/glue.*set datasets.mnli.local"):
        prepare_split(get_task("mnli"), {"hub": {}}, "train")
    assert time.monotonic() - t0 < 10


def test_hub_model_fails_fast_offline(monkeypatch, tmp_path):
    from xlt.steps.data import snapshot_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailable, match=r"bigscience/bloom-560m.*models.<name>.local"):
        snapshot_model("bigscience/bloom-560m", None, str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


def _hub_shaped(task, key):
    """A few rows with the columns the Hub copy of `task`'s raw part `key` has."""
    part = get_task(task).hub[key]
    if task == "qqp":
        return pd.DataFrame({"question1": ["q a", "q b", "q c"], "question2": ["q a", "q d", "q e"],
                             "label": [1, 0, -1], "idx": [0, 1, 2]})
    if task in ("squad", "squad_v2"):
        return pd.DataFrame({"id": ["1", "2"], "title": ["T", "T"], "context": ["Paris is in France."] * 2,
                             "question": ["Where?", "Who?"],
                             "answers": [{"text": ["France"], "answer_start": [12]},
                                         {"text": [], "answer_start": []} if task == "squad_v2"
                                         else {"text": ["Paris"], "answer_start": [0]}]})
    df = pd.DataFrame({"premise": ["p1", "p2", "p3"], "hypothesis": ["h1", "h2", "h3"], "label": [0, 2, -1]})
    if part.repo == "facebook/anli":
        df["uid"] = [f"{key}-{i}" for i in range(3)]
    elif part.repo == "nyu-mll/glue":
        df["idx"] = range(3)
    return df


@pytest.mark.parametrize("task", ["mnli", "qqp", "anli_plus", "squad", "squad_v2"])
def test_every_task_normalises_hub_shaped_local_files(task, tmp_path):
    t = get_task(task)
    files = {}
    for key in t.hub:
        path = tmp_path / f"{key}.parquet"
        _hub_shaped(task, key).to_parquet(path)
        files[key] = str(path)
    for split, keys in t.parts.items():
        df = prepare_split(t, {"local": {"format": "parquet", "files": files}}, split)
        assert set(df["language"]) == {"en"} and df["id"].is_unique
        if t.format == "classification":
            assert (df["label"] >= 0).all()          # label -1 (no gold label) dropped
            assert len(df) == 2 * len(keys)          # every raw part contributes (ANLI+ = ANLI + MNLI + SNLI)
            assert df["label"].max() < t.num_labels
    if task == "squad_v2":
        assert [len(a) for a in df["answer_texts"]] == [1, 0]


def test_multiple_choice_tasks_normalise_hub_shaped_rows(tmp_path):
    hs = pd.DataFrame({"ind": [1, 2], "ctx": ["A man", "A dog"], "endings": [["a", "b", "c", "d"]] * 2,
                       "label": ["2", ""]})  # test rows have empty labels
    csqa = pd.DataFrame({"id": ["q"], "question": ["Where?"], "question_concept": ["x"],
                         "choices": [{"label": ["A", "B", "C", "D", "E"], "text": ["v", "w", "x", "y", "z"]}],
                         "answerKey": ["C"]})
    cosmos = pd.DataFrame({"id": ["c"], "context": ["Story."], "question": ["Why?"], "answer0": ["a"],
                           "answer1": ["b"], "answer2": ["c"], "answer3": ["d"], "label": [3]})
    for task, df in (("hellaswag", hs), ("commonsense_qa", csqa), ("cosmos_qa", cosmos)):
        raw = tmp_path / f"{task}.parquet"
        df.to_parquet(raw)
        out = prepare_split(get_task(task), {"local": {"format": "parquet", "files": {"train": str(raw)}}}, "train")
        assert len(out) == 1
        row = out.iloc[0]
        assert {"hellaswag": 2, "commonsense_qa": 2, "cosmos_qa": 3}[task] == row["label"]
        assert len(row["choices"]) == (5 if task == "commonsense_qa" else 4)
    assert out.iloc[0]["context"] == "Story. Why?"


def test_ccg_tsv_reader(tmp_path, fixtures_dir):
    src = {"local": {"format": "ccg_tsv", "files": {"train": str(fixtures_dir / "ccg" / "train.tsv")}}}
    df = prepare_split(get_task("ccg"), src, "train")
    expected = pd.read_parquet(fixtures_dir / "ccg" / "train.parquet")
    assert [list(t) for t in df["tokens"]] == [list(t) for t in expected["tokens"]]
    assert [list(t) for t in df["tags"]] == [list(t) for t in expected["tags"]]
    bad = tmp_path / "bad.tsv"
    bad.write_text("a b c\tN N\n")
    with pytest.raises(ValueError, match=r"bad.tsv:1: 3 tokens but 2 tags"):
        prepare_split(get_task("ccg"), {"local": {"format": "ccg_tsv", "files": {"train": str(bad)}}}, "train")
    with pytest.raises(SourceError, match="CCGbank is licensed"):
        prepare_split(get_task("ccg"), {"hub": {}}, "train")
