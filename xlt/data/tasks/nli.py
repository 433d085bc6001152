"""Sentence-pair classification intermediate tasks: MNLI, QQP and ANLI+ (ANLI R1-3 + MNLI + SNLI)."""
from __future__ import annotations

import pandas as pd

from xlt.data.tasks.registry import HubPart, Task, register
from xlt.data.tasks.common import int_labels

GLUE = "nyu-mll/glue"


def _pairs(df: pd.DataFrame, a: str, b: str, prefix: str) -> pd.DataFrame:
    df = df.assign(label=int_labels(df["label"], prefix.rstrip("-")))
    df = df[df["label"] >= 0]  # GLUE/SNLI mark unlabelled or no-consensus rows with -1
    ids = df["uid"].astype(str) if "uid" in df else df.get("idx", pd.Series(range(len(df)), index=df.index)).astype(str)
    return pd.DataFrame({
        "id": prefix + ids.values,
        "language": "en",
        "text_a": df[a].astype(str).values,
        "text_b": df[b].astype(str).values,
        "label": df["label"].astype(int).values,
    })


def _pair_normaliser(a: str, b: str):
    def normalise(raw: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
        return pd.concat([_pairs(df, a, b, f"{key}-") for key, df in raw.items()], ignore_index=True)
    return normalise


nli = _pair_normaliser("premise", "hypothesis")
PAIR_COLUMNS = ("premise", "hypothesis", "label")  # ids (uid / idx) are optional: SNLI has none


register(Task(
    name="mnli", format="classification", role="intermediate", num_labels=3,
    description="MultiNLI (GLUE): entailment / neutral / contradiction; dev = matched, also scored on mismatched",
    hub={"train": HubPart(GLUE, "mnli", "train"),
         "validation_matched": HubPart(GLUE, "mnli", "validation_matched"),
         "validation_mismatched": HubPart(GLUE, "mnli", "validation_mismatched")},
    parts={"train": ["train"], "dev": ["validation_matched"], "dev_mismatched": ["validation_mismatched"]},
    extra_dev={"dev_mismatched": "mismatched"},
    normalise=nli, columns=PAIR_COLUMNS,
    selection_metric="accuracy",
))

register(Task(
    name="qqp", format="classification", role="intermediate", num_labels=2,
    description="Quora Question Pairs (GLUE): duplicate or not",
    hub={"train": HubPart(GLUE, "qqp", "train"), "validation": HubPart(GLUE, "qqp", "validation")},
    parts={"train": ["train"], "dev": ["validation"]},
    normalise=_pair_normaliser("question1", "question2"), columns=("question1", "question2", "label"),
    score_options={"binary_f1_score": True},
    selection_metric="accuracy",
))

register(Task(
    name="anli_plus", format="classification", role="intermediate", num_labels=3,
    description="ANLI+ (Phang et al. 2020): ANLI rounds 1-3 + MNLI + SNLI train; dev = ANLI dev R1-3",
    hub={**{f"anli.train_r{r}": HubPart("facebook/anli", None, f"train_r{r}") for r in (1, 2, 3)},
         **{f"anli.dev_r{r}": HubPart("facebook/anli", None, f"dev_r{r}") for r in (1, 2, 3)},
         "mnli.train": HubPart(GLUE, "mnli", "train"),
         "snli.train": HubPart("stanfordnlp/snli", None, "train")},
    parts={"train": ["anli.train_r1", "anli.train_r2", "anli.train_r3", "mnli.train", "snli.train"],
           "dev": ["anli.dev_r1", "anli.dev_r2", "anli.dev_r3"]},
    normalise=nli, columns=PAIR_COLUMNS,
    selection_metric="accuracy",
))
