"""Answer and question lengths in the model's own tokens, and the `auto` length caps chosen from them.

`qa.max_answer_length` and `features.max_query_length` may say `auto`: the smallest length that covers a
declared share (`qa.auto_coverage`) of a span-QA task's English training answers / questions, measured
with the model's tokenizer (results/lengths/{model}/{task}.json). A cap copied from another tokenizer
(XTREME's 30 answer tokens are XLM-R SentencePiece pieces) puts answers out of reach of a byte-level
BPE whose whole-word pre-tokens merge across the answer's end."""
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


def answer_lengths(examples: pd.DataFrame, tokenizer) -> np.ndarray:
    """Tokens of each answered example's first gold answer, inside its context's own tokenisation (the
    same offsets span_qa.featurize labels): a token that runs past the answer counts whole."""
    answered = examples[examples["answer_texts"].map(len) > 0]
    if answered.empty:
        return np.zeros(0, dtype=np.int64)
    contexts = list(dict.fromkeys(answered["context"]))  # a passage has several questions: tokenise it once
    offsets = dict(zip(contexts, tokenizer(contexts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]))
    return np.asarray([token_span_length(offsets[ex.context], int(ex.answer_starts[0]),
                                         int(ex.answer_starts[0]) + len(ex.answer_texts[0]))
                       for ex in answered.itertuples(index=False)], dtype=np.int64)


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


def choose(examples: pd.DataFrame, tokenizer, share: float) -> dict:
    """The `auto` lengths of a task from its (English) training examples, with the quantiles they came from."""
    answers, questions = answer_lengths(examples, tokenizer), question_lengths(examples, tokenizer)
    return {"coverage": share, "max_answer_length": covering_length(answers, share),
            "max_query_length": covering_length(questions, share),
            "answers": len(answers), "questions": len(questions),
            "answer_quantiles": {str(q): covering_length(answers, q) for q in QUANTILES},
            "question_quantiles": {str(q): covering_length(questions, q) for q in QUANTILES}}


def resolve(options: dict, lengths: dict | None, where: str) -> dict:
    """`options` with every `auto` among KEYS replaced by the chosen length from `lengths` (a lengths
    record, as choose() writes it). `where` names the options' source for the error."""
    auto = [k for k in KEYS if options.get(k) == AUTO]
    if auto and not lengths:
        raise ValueError(f"{where}: {', '.join(auto)} is `auto`, but no measured lengths were given "
                         "(results/lengths/<model>/<task>.json, made by the measure_lengths rule)")
    return {**options, **{k: int(lengths[k]) for k in auto}}
