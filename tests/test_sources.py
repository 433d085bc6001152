import json
import time
from pathlib import Path

import pandas as pd
import pytest

from xlt.data.hub import HubUnavailable
from xlt.data.schemas import SchemaError
from xlt.data.sources import SourceError, prepare_split
from xlt.data.tasks import REGISTRY, get_task

ROOT = Path(__file__).resolve().parents[1]


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


def _squad_rows(n, bad=0, shifted=0):
    """n SQuAD-shaped rows; `bad` have an answer text absent from the context, `shifted` an offset 3 off."""
    rows = []
    for i in range(n):
        start = 12 - 3 * (i < shifted)
        text = "Germany" if shifted <= i < shifted + bad else "France"
        rows.append({"id": str(i), "title": "T", "context": "Paris is in France.", "question": "Where?",
                     "answers": {"text": [text], "answer_start": [start]}})
    rows.append({"id": "no-answer", "title": "T", "context": "Paris is in France.", "question": "Why?",
                 "answers": {"text": [], "answer_start": []}})
    return rows


def _squad_source(tmp_path, rows):
    p = tmp_path / "train.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows))
    return {"local": {"format": "json", "files": {"train": str(p)}}}


def test_squad_offsets_are_repaired_near_their_answer_else_dropped_and_counted(tmp_path, capsys):
    df = prepare_split(get_task("squad_v2"), _squad_source(tmp_path, _squad_rows(200, bad=1, shifted=5)), "train")
    assert len(df) == 200  # 201 rows, the one whose answer is nowhere near its offset dropped
    assert all(int(s[0]) == 12 for s in df["answer_starts"] if len(s))  # the 5 shifted offsets repaired
    assert "no-answer" in set(df["id"])  # unanswerable questions stay
    log = capsys.readouterr().out
    assert "5 repaired (text found within 50 characters), 1 answer(s) dropped, 1 of 201 examples dropped" in log
    assert df.attrs["provenance"]["source"] == "local"


def test_squad_offsets_fail_the_split_above_one_percent(tmp_path):
    with pytest.raises(SchemaError, match=r"3 of 201 examples \(1.5%, more than 1%\).*example '0': context\[12:\] "
                                          r"starts with 'France.', not the answer 'Germany'.*bytes rather than"):
        prepare_split(get_task("squad"), _squad_source(tmp_path, _squad_rows(200, bad=3)), "train")


def test_duplicate_ids_fall_back_to_stable_row_ids_with_a_warning(tmp_path, capsys):
    raw = pd.DataFrame({"ind": [7, 7, 8], "ctx": ["a", "b", "c"], "endings": [["x", "y"]] * 3, "label": ["0", "1", "0"]})
    raw.to_parquet(tmp_path / "hs.parquet")
    df = prepare_split(get_task("hellaswag"), {"local": {"format": "parquet", "files": {"train": str(tmp_path / "hs.parquet")}}},
                       "train")
    assert df["id"].tolist() == ["train-row0", "train-row1", "train-row2"]
    assert "1 duplicate id(s) (e.g. '7') in raw part 'train'; using row positions" in capsys.readouterr().out


def test_cosmos_qa_reads_a_pinned_commit_as_text_from_a_warm_cache(tmp_path, monkeypatch):
    """Answers that are literally None/NA stay strings; the file comes from the xlt cache offline."""
    from xlt.data.sources import url_cache

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = get_task("cosmos_qa")
    part = task.hub["validation"]
    assert "/b6eb99cca4e2a51dd28a9a6f562534872d851639/data/valid.csv" in part.url_at()  # not a moving branch
    csv = ("id,context,question,answer0,answer1,answer2,answer3,label\n"
           "q1,ctx,Why?,None,NA,,null,0\nq2,ctx2,How?,a,b,c,d,3\n")
    cached = url_cache(part.url_at())
    cached.parent.mkdir(parents=True)
    cached.write_text(csv)
    df = prepare_split(task, {"hub": {}}, "dev")
    assert list(df.loc[0, "choices"]) == ["None", "NA", "", "null"] and df["label"].tolist() == [0, 3]
    assert df.attrs["provenance"] == {"source": "hub", "revisions": {"github:wilburOne/cosmosqa": part.revision}}
    # not cached, and GitHub out of reach (HF_HUB_OFFLINE alone does not stop it: tests/test_hub.py)
    monkeypatch.setattr("xlt.data.sources.unreachable", lambda url, timeout=3.0: "cannot reach raw.githubusercontent.com:443")
    with pytest.raises(HubUnavailable, match=r"valid.csv: cannot reach raw.githubusercontent.com:443, and the cache has no copy"):
        prepare_split(task, {"hub": {"revisions": {"github:wilburOne/cosmosqa": "0" * 40}}}, "dev")


def _warm_datasets_cache(root, repo, config, split, frame):
    """The layout datasets 5 reads offline: <cache>/<ns>___<name>/<config>/0.0.0/<hash>/{<name>-<split>.arrow,
    dataset_info.json} (what an online load_dataset leaves behind)."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    name = repo.split("/")[1]
    folder = root / repo.replace("/", "___") / config / "0.0.0" / "0123456789abcdef"
    folder.mkdir(parents=True)
    table = datasets.Dataset.from_pandas(frame, preserve_index=False)
    with ArrowWriter(path=str(folder / f"{name}-{split}.arrow")) as writer:
        writer.write_table(table.data.table)
        writer.finalize()
    splits = datasets.SplitDict.from_split_dict([{"name": split, "num_examples": len(frame), "num_bytes": 0,
                                                  "dataset_name": name}])
    datasets.DatasetInfo(features=table.features, config_name=config, dataset_name=name, builder_name=name,
                         splits=splits).write_to_directory(str(folder))


def test_offline_hub_datasets_load_from_a_warm_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _warm_datasets_cache(tmp_path / "hf", "nyu-mll/glue", "mnli", "train",
                         pd.DataFrame({"premise": ["p1", "p2"], "hypothesis": ["h1", "h2"], "label": [0, 2],
                                       "idx": [0, 1]}))
    t0 = time.monotonic()
    df = prepare_split(get_task("mnli"), {"hub": {}}, "train")
    assert df["text_a"].tolist() == ["p1", "p2"] and df["label"].tolist() == [0, 2]
    assert df.attrs["provenance"]["revisions"] == {"nyu-mll/glue": "main (offline cache, unverified)"}
    # a part the cache does not hold still fails fast, naming the cache
    with pytest.raises(HubUnavailable, match=r"nyu-mll/glue.*local cache .* holds no copy.*validation_matched"):
        prepare_split(get_task("mnli"), {"hub": {}}, "dev")
    assert time.monotonic() - t0 < 15


def test_offline_model_snapshot_copies_from_a_warm_hub_cache(tmp_path, monkeypatch, tiny_model_dir):
    import shutil

    import huggingface_hub

    from xlt.io import read_json
    from xlt.steps.data import snapshot_model

    cache = tmp_path / "hub"
    sha = "a" * 40
    snap = cache / "models--org--tiny" / "snapshots" / sha
    shutil.copytree(tiny_model_dir, snap)
    (cache / "models--org--tiny" / "refs").mkdir()
    (cache / "models--org--tiny" / "refs" / "main").write_text(sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot_model("org/tiny", None, str(tmp_path / "m"))
    assert (tmp_path / "m" / "config.json").exists()
    assert read_json(tmp_path / "m" / "xlt_provenance.json")["commit"] == f"{sha} (offline cache)"


def test_revisions_are_pinned_per_repository(tmp_path):
    import yaml

    from xlt.workflow.config import ConfigError, dataset_source, model_revision
    from xlt.workflow.validate import validate_config
    from xlt.data.sources import part_revision

    study = yaml.safe_load((ROOT / "config.yaml").read_text())
    anli = dataset_source(study, "anli_plus")["hub"]["revisions"]
    assert set(anli) == {"facebook/anli", "nyu-mll/glue", "stanfordnlp/snli"}  # one commit per repository
    assert model_revision(study, "bloom-560m") == study["hub_revisions"]["bigscience/bloom-560m"]
    task = get_task("anli_plus")
    assert part_revision(task, task.hub["snli.train"], {"revisions": anli}) == anli["stanfordnlp/snli"]
    hs = get_task("hellaswag")
    assert part_revision(hs, hs.hub["train"], {}) is None  # main (its data files; a pin is a commit of main)
    assert part_revision(hs, hs.hub["train"], {"revision": "b" * 40}) == "b" * 40
    # a repository read through a conversion branch (a script-only repository) accepts only commits of it
    from xlt.data.tasks import HubPart

    converted = HubPart("org/scripted", None, "train", revision="refs/convert/parquet")
    assert part_revision(hs, converted, {}) == "refs/convert/parquet"
    assert part_revision(hs, converted, {"revision": "b" * 40}) == "b" * 40
    with pytest.raises(SourceError, match=r"org/scripted must be read at refs/convert/parquet"):
        part_revision(hs, converted, {"revision": "main"})
    bad = yaml.safe_load((ROOT / "config.yaml").read_text())
    bad["datasets"]["anli_plus"] = {"hub": {"revision": "c" * 40}}
    with pytest.raises(ConfigError, match=r"datasets.anli_plus.hub.revision: anli_plus is read from 3 repositories"):
        validate_config(bad)


def test_pins_refresh_rewrites_only_its_block(tmp_path):
    from types import SimpleNamespace

    from xlt.workflow import pins

    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.yaml").read_text())
    before = config.read_text()

    class FakeApi:
        def dataset_info(self, repo, revision):
            return SimpleNamespace(sha=("d" if revision == "main" else "e") * 40)

        def model_info(self, repo, revision):
            return SimpleNamespace(sha="f" * 40)

    got = pins.refresh(config, api=FakeApi(), ls_remote=lambda repo, branch: "1" * 40)
    assert got["Rowan/hellaswag"] == "d" * 40  # resolved on main
    assert got["nyu-mll/glue"] == "d" * 40 and got["bigscience/bloom-560m"] == "f" * 40
    assert got["github:wilburOne/cosmosqa"] == "1" * 40 and "rajpurkar/squad" in got
    after = config.read_text()
    import yaml

    assert yaml.safe_load(after)["hub_revisions"] == got
    strip = lambda t: t.split(pins.BEGIN)[0] + t.split(pins.END)[1]  # noqa: E731
    assert strip(after) == strip(before)  # comments and everything else untouched


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


# ---- local files as a researcher has them: CSV text, raw keys, the source's own layout ----

NA_LIKE_CSV = ("id,context,question,answer0,answer1,answer2,answer3,label\n"
               "q1,ctx,Why?,None,NA,N/A,null,0\n"
               "q2,ctx2,How?,,nan,#N/A,n/a,3\n")


def test_local_csv_keeps_na_like_answers_exactly_as_the_url_path(tmp_path, monkeypatch):
    """Cosmos QA answers that are literally None/NA/N/A/null/empty survive a local `format: csv` source
    as they do the authors' CSV read over HTTP: one reader, no NA parsing."""
    from xlt.data.sources import url_cache

    task = get_task("cosmos_qa")
    local = tmp_path / "valid.csv"
    local.write_text(NA_LIKE_CSV)
    from_disk = prepare_split(task, {"local": {"format": "csv", "files": {"validation": str(local)}}}, "dev")
    assert [list(c) for c in from_disk["choices"]] == [["None", "NA", "N/A", "null"], ["", "nan", "#N/A", "n/a"]]
    assert from_disk["label"].tolist() == [0, 3]
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cached = url_cache(task.hub["validation"].url_at())
    cached.parent.mkdir(parents=True)
    cached.write_text(NA_LIKE_CSV)
    from_url = prepare_split(task, {"hub": {}}, "dev")
    pd.testing.assert_frame_equal(from_disk.reset_index(drop=True), from_url.reset_index(drop=True))


def test_local_csv_pairs_keep_text_and_numeric_labels(tmp_path):
    """CSV is read as text; classification labels are still numbers (-1 still means unlabelled)."""
    files = {}
    for key in ("train", "validation_matched", "validation_mismatched"):
        path = tmp_path / f"{key}.csv"
        path.write_text("premise,hypothesis,label,idx\nNA,None,0,0\nnull,,2,1\np,h,-1,2\n")
        files[key] = str(path)
    df = prepare_split(get_task("mnli"), {"local": {"format": "csv", "files": files}}, "train")
    assert df["text_a"].tolist() == ["NA", "null"] and df["text_b"].tolist() == ["None", ""]
    assert df["label"].tolist() == [0, 2] and df["id"].tolist() == ["train-0", "train-1"]


def test_raw_key_table_in_docs_lists_every_raw_key_a_split_needs():
    """A local user follows this table: every raw key the task's splits are built from must be in it."""
    import re

    def expand(token):  # `anli.train_r{1,2,3}` -> anli.train_r1, anli.train_r2, anli.train_r3
        m = re.search(r"\{([^}]+)\}", token)
        return [token[:m.start()] + alt + token[m.end():] for alt in m.group(1).split(",")] if m else [token]

    table = (ROOT / "docs" / "data.md").read_text().split("Raw keys per task")[1].split("\n\n")[1]
    seen = {}
    for row in table.splitlines()[2:]:  # after the header and the rule
        names, _, raw_keys, _ = (c.strip() for c in row.strip("|").split("|"))
        keys = {k for token in re.findall(r"`([^`]+)`", raw_keys) for k in expand(token)}
        seen.update({name: keys for name in re.findall(r"`([^`]+)`", names)})
    for name, task in REGISTRY.items():
        needed = {k for ks in task.parts.values() for k in ks}
        listed = {k.replace("<lang>", lang) for k in seen[name] for lang in task.languages}
        assert needed <= listed, f"docs/data.md raw-key table, {name}: missing {sorted(needed - listed)}"


def test_local_source_missing_a_needed_raw_key_fails_at_config_check(study_workdir):
    """MNLI's dev_mismatched split needs validation_mismatched: the config check (DAG build) says so,
    not a job at run time."""
    import copy

    import yaml

    from xlt.workflow.config import ConfigError
    from xlt.workflow.validate import validate_config

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    files = {}
    for key in ("train", "validation_matched", "validation_mismached"):  # a typo'd key, as users make them
        (study_workdir / f"{key}.jsonl").write_text('{"premise": "p", "hypothesis": "h", "label": 0, "idx": 0}\n')
        files[key] = f"{key}.jsonl"
    cfg["datasets"]["mnli"] = {"local": {"format": "json", "files": files}}
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    msg = str(err.value)
    assert "datasets.mnli.local.files: no raw key 'validation_mismatched' (needed for split dev_mismatched)" in msg
    assert "'validation_mismached' is not a raw key of mnli" in msg
    fixed = copy.deepcopy(cfg)
    fixed["datasets"]["mnli"]["local"]["files"]["validation_mismatched"] = files.pop("validation_mismached")
    del fixed["datasets"]["mnli"]["local"]["files"]["validation_mismached"]
    validate_config(fixed)


# One real row of each source's own release (not the Hub's columns): CommonsenseQA's train_rand_split.jsonl
# and MultiNLI 1.0's multinli_1.0_train.jsonl (parse trees left out).
CSQA_OWN = {"answerKey": "A", "id": "075e483d21c29a511267ef62bedc0461",
            "question": {"question_concept": "punishing",
                         "choices": [{"label": "A", "text": "ignore"}, {"label": "B", "text": "enforce"},
                                     {"label": "C", "text": "authoritarian"}, {"label": "D", "text": "yell at"},
                                     {"label": "E", "text": "avoid"}],
                         "stem": "The sanctions against the school were a punishing blow, and they seemed to what "
                                 "the efforts the school had made to change?"}}
MNLI_OWN = {"annotator_labels": ["neutral"], "genre": "government", "gold_label": "neutral", "pairID": "31193n",
            "promptID": "31193", "sentence1": "Conceptually cream skimming has two basic dimensions - product and "
                                              "geography.",
            "sentence2": "Product and geography are what make cream skimming work. "}


@pytest.mark.parametrize("task,row,missing", [("commonsense_qa", CSQA_OWN, "['choices']"),
                                              ("mnli", MNLI_OWN, "['premise', 'hypothesis', 'label']")])
def test_local_files_in_the_sources_own_layout_name_expected_and_found_columns(task, row, missing, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(SourceError) as err:
        prepare_split(get_task(task), {"local": {"format": "json", "files": {"train": str(path)}}}, "train")
    msg = str(err.value)
    assert f"dataset {task!r}, split 'train': raw part 'train' ({path}) lacks column(s) {missing}" in msg
    assert "expects the Hub's columns" in msg and f"found {sorted(row)}" in msg
