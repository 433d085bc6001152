"""Multiple-choice intermediate tasks: HellaSwag, CommonsenseQA, Cosmos QA."""
from __future__ import annotations

import pandas as pd

from xlt.data.tasks.registry import HubPart, Task, UrlPart, register
from xlt.data.tasks.common import unique_ids


def _frame(key: str, ids, contexts, choices, labels) -> pd.DataFrame:
    return pd.DataFrame({"id": unique_ids(ids, key, "multiple choice"), "language": "en", "context": list(contexts),
                         "choices": [list(map(str, c)) for c in choices], "label": list(labels)})


def hellaswag(raw: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
    (key, df), = raw.items()
    df = df[df["label"].astype(str).str.strip() != ""]  # test labels are empty
    return _frame(key, df["ind"], df["ctx"].astype(str), df["endings"], df["label"].astype(int))


def commonsense_qa(raw: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
    (key, df), = raw.items()
    df = df[df["answerKey"].astype(str).str.strip() != ""]
    letters = df["choices"].map(lambda c: list(c["label"]))
    labels = [lab.index(k) for lab, k in zip(letters, df["answerKey"])]  # answerKey is a letter A-E
    return _frame(key, df["id"], df["question"].astype(str), df["choices"].map(lambda c: list(c["text"])), labels)


def cosmos_qa(raw: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
    """The authors' CSVs are read as text (xlt.data.sources: no NA parsing), so an answer that is literally
    "None" or "NA" stays that string instead of becoming NaN."""
    (key, df), = raw.items()
    contexts = df["context"].astype(str) + " " + df["question"].astype(str)
    choices = df[["answer0", "answer1", "answer2", "answer3"]].astype(str).values.tolist()
    return _frame(key, df["id"], contexts, choices, df["label"].astype(int))


register(Task(
    name="hellaswag", format="multiple_choice", role="intermediate",
    description="HellaSwag: pick the plausible continuation of an activity description (4 endings)",
    # main holds the data files now (no loading script: datasets 5 reads it), so a pin is a commit of main,
    # not of refs/convert/parquet, a branch the Hub's bot rewrites
    hub={s: HubPart("Rowan/hellaswag", None, s) for s in ("train", "validation")},
    parts={"train": ["train"], "dev": ["validation"]},
    normalise=hellaswag, selection_metric="accuracy", columns=("ind", "ctx", "endings", "label"),
))

register(Task(
    name="commonsense_qa", format="multiple_choice", role="intermediate",
    description="CommonsenseQA: 5-way commonsense question answering (answerKey letters)",
    hub={s: HubPart("tau/commonsense_qa", None, s) for s in ("train", "validation")},
    parts={"train": ["train"], "dev": ["validation"]},
    normalise=commonsense_qa, selection_metric="accuracy", columns=("id", "question", "choices", "answerKey"),
))

# the authors' repository at a fixed commit (its default branch moves): github.com/wilburOne/cosmosqa
COSMOS = "https://raw.githubusercontent.com/wilburOne/cosmosqa/{revision}/data/%s.csv"
COSMOS_REPO, COSMOS_COMMIT = "github:wilburOne/cosmosqa", "b6eb99cca4e2a51dd28a9a6f562534872d851639"
register(Task(
    name="cosmos_qa", format="multiple_choice", role="intermediate",
    description="Cosmos QA: commonsense reading comprehension, 4 answers (authors' CSV files; the Hub copy is script-only)",
    hub={"train": UrlPart(COSMOS % "train", "csv", COSMOS_REPO, COSMOS_COMMIT),
         "validation": UrlPart(COSMOS % "valid", "csv", COSMOS_REPO, COSMOS_COMMIT)},
    parts={"train": ["train"], "dev": ["validation"]},
    normalise=cosmos_qa, selection_metric="accuracy",
    columns=("id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"),
))
