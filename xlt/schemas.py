"""The normalised on-disk schema of each task format; every dataset is written in one of these."""
from __future__ import annotations

import pandas as pd

COLUMNS = {
    # one row per example; label is an int class index
    "classification": ["id", "language", "text_a", "text_b", "label"],
    # SQuAD-like; answer_texts/answer_starts are parallel lists (empty = no answer, SQuAD 2.0)
    "span_qa": ["id", "language", "title", "context", "question", "answer_texts", "answer_starts"],
    # context (passage and/or question) + candidate continuations; label = index of the right one
    "multiple_choice": ["id", "language", "context", "choices", "label"],
    # one sentence per row: words and one tag per word (CCG supertags)
    "tagging": ["id", "language", "tokens", "tags"],
}


class SchemaError(ValueError):
    pass


def check_frame(df: pd.DataFrame, fmt: str, where: str) -> pd.DataFrame:
    """Return `df` restricted to the schema's columns; raise naming what is missing or broken."""
    missing = [c for c in COLUMNS[fmt] if c not in df.columns]
    if missing:
        raise SchemaError(
            f"{where}: missing column(s) {missing} for format '{fmt}'; expected columns {COLUMNS[fmt]}"
        )
    df = df[COLUMNS[fmt]].reset_index(drop=True)
    if df["id"].duplicated().any():
        dup = df.loc[df["id"].duplicated(), "id"].iloc[0]
        raise SchemaError(f"{where}: duplicate example id {dup!r}; ids must be unique within a split")
    if fmt == "span_qa":
        check_answer_offsets(df, where)
    if fmt == "tagging":
        bad = df[df["tokens"].map(len) != df["tags"].map(len)]
        if len(bad):
            row = bad.iloc[0]
            raise SchemaError(f"{where}: sentence {row.id!r} has {len(row.tokens)} tokens but {len(row.tags)} tags")
    if fmt == "multiple_choice":
        bad = df[(df["label"] < 0) | (df["label"] >= df["choices"].map(len))]
        if len(bad):
            raise SchemaError(f"{where}: example {bad.iloc[0].id!r} has label {bad.iloc[0].label} outside its "
                              f"{len(bad.iloc[0].choices)} choices")
    return df


def check_answer_offsets(df: pd.DataFrame, where: str) -> None:
    """Every context[answer_start:] must start with its answer text (catches byte/char offset bugs)."""
    for row in df.itertuples(index=False):
        if len(row.answer_texts) != len(row.answer_starts):
            raise SchemaError(f"{where}: example {row.id!r} has {len(row.answer_texts)} answer texts "
                              f"but {len(row.answer_starts)} answer starts")
        for text, start in zip(row.answer_texts, row.answer_starts):
            if not row.context.startswith(text, int(start)):
                found = row.context[int(start):int(start) + len(text)]
                raise SchemaError(f"{where}: example {row.id!r}: context[{start}:] starts with {found!r}, "
                                  f"not the answer {text!r}")
