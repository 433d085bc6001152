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


# Span-QA gold answers whose offset does not point at their text are repaired when the text occurs within
# REPAIR_WINDOW characters of the offset (whitespace or quote normalisation by a dataset's publisher shifts
# offsets a little), else dropped. A split fails only if more than MAX_DROPPED of its examples lose every
# answer: the official SQuAD/TyDiQA-GoldP files have no or a handful of such rows, while the failures this
# check exists for — byte offsets read as character offsets, a wrong encoding, a mangled export — hit
# most non-ASCII examples, far above 1%.
REPAIR_WINDOW = 50
MAX_DROPPED = 0.01


def check_frame(df: pd.DataFrame, fmt: str, where: str) -> pd.DataFrame:
    """Return `df` restricted to the schema's columns (span QA: with answer offsets repaired or dropped);
    raise naming what is missing or broken."""
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
        df = repair_answer_offsets(df, where)
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


def _nearest(context: str, text: str, start: int) -> int | None:
    """The occurrence of `text` in `context` nearest to `start`, within REPAIR_WINDOW characters."""
    lo = max(0, start - REPAIR_WINDOW)
    best, pos = None, context.find(text, lo)
    while pos != -1 and pos <= start + REPAIR_WINDOW:
        if best is None or abs(pos - start) < abs(best - start):
            best = pos
        pos = context.find(text, pos + 1)
    return best


def repair_answer_offsets(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Every context[answer_start:] must start with its answer text (catches byte/char offset bugs).
    Misaligned answers are moved to the nearest occurrence within REPAIR_WINDOW, else dropped; examples
    that lose every answer are dropped; counts go to the job log; more than MAX_DROPPED dropped fails."""
    texts, starts, keep = [], [], []
    repaired = dropped_answers = 0
    first_bad = None
    for row in df.itertuples(index=False):
        if len(row.answer_texts) != len(row.answer_starts):
            raise SchemaError(f"{where}: example {row.id!r} has {len(row.answer_texts)} answer texts "
                              f"but {len(row.answer_starts)} answer starts")
        t_out, s_out = [], []
        for text, start in zip(row.answer_texts, map(int, row.answer_starts)):
            if row.context.startswith(text, start):
                t_out.append(text), s_out.append(start)
                continue
            fixed = _nearest(row.context, text, start)
            if fixed is not None:
                repaired += 1
                t_out.append(text), s_out.append(fixed)
            else:
                dropped_answers += 1
                first_bad = first_bad or (row.id, start, row.context[start:start + len(text)], text)
        texts.append(t_out)
        starts.append(s_out)
        keep.append(bool(t_out) or not len(row.answer_texts))  # unanswerable examples stay unanswerable
    out = df.assign(answer_texts=texts, answer_starts=starts)[keep].reset_index(drop=True)
    dropped = len(df) - len(out)
    if repaired or dropped_answers:
        print(f"{where}: answer offsets: {repaired} repaired (text found within {REPAIR_WINDOW} characters), "
              f"{dropped_answers} answer(s) dropped, {dropped} of {len(df)} examples dropped (no answer left)",
              flush=True)
    if len(df) and dropped / len(df) > MAX_DROPPED:
        ex_id, start, found, text = first_bad
        raise SchemaError(f"{where}: {dropped} of {len(df)} examples ({dropped / len(df):.1%}, more than "
                          f"{MAX_DROPPED:.0%}) have no answer whose text is at or near its offset — e.g. example "
                          f"{ex_id!r}: context[{start}:] starts with {found!r}, not the answer {text!r}. Are the "
                          f"offsets bytes rather than characters, or the file re-encoded?")
    return out
