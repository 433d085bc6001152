"""CCG supertagging (CCGbank, LDC2005T13 — licensed, so local files only).

Expected local format (`format: ccg_tsv`), as jiant used: one sentence per line,
    <space-separated tokens><TAB><space-separated supertags, one per token>
e.g. `Pierre Vinken , 61 years old<TAB>N/N N , N/N N (S[adj]\\NP)\\NP`. Produce it from CCGbank's AUTO
files by reading each leaf `(<L CAT POS POS WORD PRED>)` in order: WORD -> token, CAT -> tag (sections
02-21 = train, 00 = dev, as usual)."""
from __future__ import annotations

import pandas as pd

from xlt.data.tasks.registry import Task, register

NO_DOWNLOAD = ("CCGbank is licensed (LDC2005T13) and cannot be downloaded: set datasets.ccg.local to "
               "{format: ccg_tsv, files: {train: <train.tsv>, dev: <dev.tsv>}} (see xlt/data/tasks/ccg.py for the "
               "format), or remove ccg from study.intermediate to run the rest of the study")


def normalise(raw: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
    (key, df), = raw.items()
    return pd.DataFrame({"id": [f"{key}-{i}" for i in range(len(df))], "language": "en",
                         "tokens": df["tokens"].map(list).values, "tags": df["tags"].map(list).values})


def read_ccg_tsv(path) -> pd.DataFrame:
    """`tokens<TAB>tags` per line -> DataFrame(tokens, tags); errors name the file and line."""
    tokens, tags = [], []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'tokens<TAB>tags', found {len(parts)} tab-separated fields")
            words, cats = parts[0].split(" "), parts[1].split(" ")
            if len(words) != len(cats):
                raise ValueError(f"{path}:{n}: {len(words)} tokens but {len(cats)} tags")
            tokens.append(words)
            tags.append(cats)
    return pd.DataFrame({"tokens": tokens, "tags": tags})


register(Task(
    name="ccg", format="tagging", role="intermediate",
    description="CCG supertagging on CCGbank; metric: token accuracy",
    hub={}, parts={"train": ["train"], "dev": ["dev"]},
    normalise=normalise, selection_metric="accuracy", local_only=NO_DOWNLOAD, columns=("tokens", "tags"),
))
