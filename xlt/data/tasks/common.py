"""Helpers shared by the task normalisers."""
from __future__ import annotations

import hashlib

import pandas as pd

from xlt.data.schemas import SchemaError


def stable_bucket(text: str, buckets: int) -> int:
    """A bucket that depends only on `text` (not on row order or Python's hash seed)."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % buckets


def squad_answers(answers) -> tuple[list[str], list[int]]:
    """Hub SQuAD-style `answers` ({text: [...], answer_start: [...]}) -> parallel lists."""
    return [str(t) for t in answers["text"]], [int(s) for s in answers["answer_start"]]


def span_frame(df: pd.DataFrame, language) -> pd.DataFrame:
    texts, starts = zip(*(squad_answers(a) for a in df["answers"])) if len(df) else ((), ())
    return pd.DataFrame({
        "id": df["id"].astype(str),
        "language": language if isinstance(language, str) else list(language),
        "title": df["title"].astype(str) if "title" in df else "",
        "context": df["context"].astype(str),
        "question": df["question"].astype(str),
        "answer_texts": list(texts),
        "answer_starts": list(starts),
    })


def int_labels(labels: pd.Series, key: str) -> pd.Series:
    """Class labels as numbers whether the reader typed them (parquet, JSON) or not (CSV is read as text);
    missing labels stay missing (NaN), so `>= 0` filters drop them as they drop -1."""
    numbers = pd.to_numeric(labels, errors="coerce")
    bad = labels[numbers.isna() & labels.notna() & (labels.astype(str).str.strip() != "")]
    if len(bad):
        raise SchemaError(f"raw part {key!r}: label {bad.iloc[0]!r} (row {bad.index[0]}) is not a number")
    return numbers


def unique_ids(ids, key: str, where: str) -> list[str]:
    """`{key}-{id}` per row; if the source repeats ids (one bad row in hundreds of thousands must not stop a
    study), every row gets a stable row-position id `{key}-row{i}` instead, with a warning."""
    ids = [str(i) for i in ids]
    if len(set(ids)) == len(ids):
        return [f"{key}-{i}" for i in ids]
    dup = next(i for i in ids if ids.count(i) > 1)
    print(f"warning: {where}: {len(ids) - len(set(ids))} duplicate id(s) (e.g. {dup!r}) in raw part {key!r}; "
          f"using row positions as ids ({key}-row<i>) for this part", flush=True)
    return [f"{key}-row{i}" for i in range(len(ids))]
