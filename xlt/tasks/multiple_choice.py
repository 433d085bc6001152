"""Multiple-choice intermediate tasks: HellaSwag, CommonsenseQA, Cosmos QA."""
from __future__ import annotations

import pandas as pd

from xlt.tasks import HubPart, Task, UrlPart, register


def _frame(key: str, ids, contexts, choices, labels) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{key}-{i}" for i in ids], "language": "en", "context": list(contexts),
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
    (key, df), = raw.items()
    contexts = df["context"].astype(str) + " " + df["question"].astype(str)
    choices = df[["answer0", "answer1", "answer2", "answer3"]].astype(str).values.tolist()
    return _frame(key, df["id"], contexts, choices, df["label"].astype(int))


register(Task(
    name="hellaswag", format="multiple_choice", role="intermediate",
    description="HellaSwag: pick the plausible continuation of an activity description (4 endings)",
    hub={s: HubPart("Rowan/hellaswag", None, s, revision="refs/convert/parquet") for s in ("train", "validation")},
    parts={"train": ["train"], "dev": ["validation"]},
    normalise=hellaswag, selection_metric="accuracy",
))

register(Task(
    name="commonsense_qa", format="multiple_choice", role="intermediate",
    description="CommonsenseQA: 5-way commonsense question answering (answerKey letters)",
    hub={s: HubPart("tau/commonsense_qa", None, s) for s in ("train", "validation")},
    parts={"train": ["train"], "dev": ["validation"]},
    normalise=commonsense_qa, selection_metric="accuracy",
))

COSMOS = "https://raw.githubusercontent.com/wilburOne/cosmosqa/master/data/{}.csv"
register(Task(
    name="cosmos_qa", format="multiple_choice", role="intermediate",
    description="Cosmos QA: commonsense reading comprehension, 4 answers (authors' CSV files; the Hub copy is script-only)",
    hub={"train": UrlPart(COSMOS.format("train"), "csv"), "validation": UrlPart(COSMOS.format("valid"), "csv")},
    parts={"train": ["train"], "dev": ["validation"]},
    normalise=cosmos_qa, selection_metric="accuracy",
))
