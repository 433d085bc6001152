"""PAWS-X paraphrase identification (target): English train/dev, test in seven languages."""
from __future__ import annotations

import pandas as pd

from xlt.data.tasks.registry import HubPart, Task, register
from xlt.data.tasks.common import int_labels

REPO = "google-research-datasets/paws-x"
LANGUAGES = ("en", "de", "es", "fr", "ja", "ko", "zh")


def normalise(raw: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
    frames = []
    for key, df in raw.items():
        lang = key.split(".")[0]
        # Quirks: some train rows have empty sentences or label -1 (unlabelled); drop them.
        df = df.assign(label=int_labels(df["label"], key))
        keep = (df["label"] >= 0) & (df["sentence1"].fillna("").str.strip() != "") \
            & (df["sentence2"].fillna("").str.strip() != "")
        df = df[keep]
        frames.append(pd.DataFrame({
            "id": [f"{lang}-{split}-{i}" for i in df["id"]],
            "language": lang,
            "text_a": df["sentence1"].astype(str).values,
            "text_b": df["sentence2"].astype(str).values,
            "label": df["label"].astype(int).values,
        }))
    return pd.concat(frames, ignore_index=True)


TASK = register(Task(
    name="paws_x", format="classification", role="target", num_labels=2, languages=LANGUAGES,
    description="PAWS-X: paraphrase or not; train/dev English only, test in every language",
    hub={f"{lang}.{s}": HubPart(REPO, lang, s) for lang in LANGUAGES for s in ("train", "validation", "test")},
    parts={"train": ["en.train"], "dev": ["en.validation"], "test": [f"{lang}.test" for lang in LANGUAGES]},
    normalise=normalise, columns=("id", "sentence1", "sentence2", "label"),
    selection_metric="accuracy",
    parallel_test=True,  # the test sets translate the same 2,000 English pairs (same ids)
))
