"""Answer and question lengths in the model's own tokens, and the `auto` length caps chosen from them.

`qa.max_answer_length` and `features.max_query_length` may say `auto`: the smallest length that covers a
declared share (`qa.auto_coverage`, `features.auto_coverage`) of a span-QA task's English training
answers / questions, measured with the model's tokenizer (results/lengths/{model}/{task}.json). A cap
copied from another tokenizer (XTREME's 30 answer tokens are XLM-R SentencePiece pieces) puts answers out
of reach of a byte-level BPE whose whole-word pre-tokens merge across the answer's end."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

AUTO = "auto"
KEYS = ("max_answer_length", "max_query_length")  # the lengths `auto` may choose
QUANTILES = (0.9, 0.95, 0.99, 0.995, 0.999, 1.0)  # recorded beside the choice


def token_span_length(offsets, start: int, end: int) -> int:
    """How many tokens overlap characters [start, end): the span a model must predict for that answer."""
    return sum(1 for s, e in offsets if s < end and e > start)


def answer_spans(examples: pd.DataFrame, tokenizer) -> list[tuple[str, list, int, int]]:
    """(context, its token offsets, start, end) of each answered example's first gold answer, in the
    context's own tokenisation (the same offsets span_qa.featurize labels)."""
    answered = examples[examples["answer_texts"].map(len) > 0]
    if answered.empty:
        return []
    contexts = list(dict.fromkeys(answered["context"]))  # a passage has several questions: tokenise it once
    offsets = dict(zip(contexts, tokenizer(contexts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]))
    return [(ex.context, offsets[ex.context], int(ex.answer_starts[0]), int(ex.answer_starts[0]) + len(ex.answer_texts[0]))
            for ex in answered.itertuples(index=False)]


def span_lengths(spans: list[tuple[str, list, int, int]]) -> np.ndarray:
    """Tokens of each answer span (answer_spans): a token that runs past the answer counts whole."""
    return np.asarray([token_span_length(offsets, start, end) for _, offsets, start, end in spans], dtype=np.int64)


def answer_lengths(examples: pd.DataFrame, tokenizer) -> np.ndarray:
    """Tokens of each answered example's first gold answer (answer_spans, span_lengths)."""
    return span_lengths(answer_spans(examples, tokenizer))


def question_lengths(examples: pd.DataFrame, tokenizer) -> np.ndarray:
    ids = tokenizer(examples["question"].tolist(), add_special_tokens=False)["input_ids"]
    return np.asarray([len(i) for i in ids], dtype=np.int64)


def covering_length(lengths: np.ndarray, share: float) -> int:
    """The smallest L with at least `share` of `lengths` <= L."""
    if not len(lengths):
        raise ValueError("no lengths to choose a cap from (a split without answers or questions?)")
    ordered = np.sort(lengths)
    return int(ordered[max(math.ceil(share * len(ordered)), 1) - 1])


def coverage(lengths: np.ndarray, cap: int) -> float:
    """Share of `lengths` a cap keeps whole."""
    return float(np.mean(np.asarray(lengths) <= cap)) if len(lengths) else float("nan")


def choose(examples: pd.DataFrame, tokenizer, coverage: dict[str, float]) -> dict:
    """The `auto` lengths of a task from its (English) training examples: for each of KEYS in `coverage`
    ({key: share}), the smallest length covering that share; with the quantiles they came from."""
    measured = {"max_answer_length": answer_lengths(examples, tokenizer),
                "max_query_length": question_lengths(examples, tokenizer)}
    unknown = set(coverage) - set(KEYS)
    if unknown:
        raise ValueError(f"no `auto` length for {', '.join(sorted(unknown))}; known: {', '.join(KEYS)}")
    return {**{k: covering_length(measured[k], share) for k, share in coverage.items()},
            "coverage": dict(coverage), "examples": {k: len(v) for k, v in measured.items()},
            "quantiles": {k: {str(q): covering_length(v, q) for q in QUANTILES} for k, v in measured.items()}}


def resolve(options: dict, lengths: dict | None, where: str) -> dict:
    """`options` with every `auto` among KEYS replaced by the chosen length from `lengths` (a lengths
    record, as choose() writes it). `where` names the options' source for the error."""
    auto = [k for k in KEYS if options.get(k) == AUTO]
    missing = [k for k in auto if k not in (lengths or {})]
    if missing:
        raise ValueError(f"{where}: {', '.join(missing)} is `auto`, but no measured length was given for it "
                         "(results/lengths/<model>/<task>.json, made by the measure_lengths rule)")
    return {**options, **{k: int(lengths[k]) for k in auto}}
