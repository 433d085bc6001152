"""Extractive span QA for decoder-only models (after HF run_qa.py / utils_qa.py).

Layout: `question <sep> context-window <eos>`. The question comes first so every context token can
attend to it under causal attention; the final <eos> has seen everything and is the "no answer"
position (SQuAD 2.0) and the label of windows that do not contain the answer. Long contexts are split
into windows overlapping by `doc_stride` tokens; offsets map tokens back to context characters."""
from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from xlt.model.formats.common import Ragged, separator_ids
from xlt.model.metrics import squad_scores, squad_v2_scores


def char_to_token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """Token indices (inclusive) covering characters [start, end), or None if not fully covered."""
    first = next((i for i, (s, e) in enumerate(offsets) if e > start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end), None)
    if first is None or last is None or last < first or offsets[first][0] > start or offsets[last][1] < end:
        return None
    return first, last


def span_text(context: str, offsets: np.ndarray, first: int, last: int) -> str:
    """Context characters covered by context tokens first..last, surrounding whitespace dropped: BLOOM's
    offsets keep a token's leading space (trim_offsets=False), so a span's first token usually starts at the
    space before the answer."""
    return context[offsets[first][0]:offsets[last][1]].strip()


def featurize(examples: pd.DataFrame, tokenizer, max_length: int, doc_stride: int,
              max_query_length: int, **_) -> pd.DataFrame:
    sep, end = separator_ids(tokenizer)
    questions = tokenizer(examples["question"].tolist(), add_special_tokens=False)["input_ids"]
    contexts = tokenizer(examples["context"].tolist(), add_special_tokens=False, return_offsets_mapping=True)
    rows = collections.defaultdict(list)
    for i, ex in enumerate(examples.itertuples(index=False)):
        q = questions[i][:max_query_length]
        ctx_ids, ctx_off = contexts["input_ids"][i], contexts["offset_mapping"][i]
        window = max_length - len(q) - 2
        if window < 8:
            raise ValueError(f"max_length {max_length} leaves no room for context after a {len(q)}-token "
                             "question; raise max_length or lower max_query_length")
        answer = None
        if len(ex.answer_texts):
            answer = (int(ex.answer_starts[0]), int(ex.answer_starts[0]) + len(ex.answer_texts[0]))
        start = 0
        while True:
            ids = ctx_ids[start:start + window]
            offs = [tuple(o) for o in ctx_off[start:start + window]]
            prefix = len(q) + 1
            null = prefix + len(ids)  # index of the final <eos>
            s_pos = e_pos = null
            if answer is not None:
                span = char_to_token_span(offs, *answer)
                if span is not None:
                    s_pos, e_pos = span[0] + prefix, span[1] + prefix
            rows["example_id"].append(ex.id)
            rows["language"].append(ex.language)
            rows["input_ids"].append(q + [sep] + ids + [end])
            rows["context_offset"].append(prefix)
            rows["offsets"].append(np.asarray(offs, dtype=np.int32).reshape(-1))  # flat [s0, e0, s1, e1, ...]
            rows["start_position"].append(s_pos)
            rows["end_position"].append(e_pos)
            if start + window >= len(ctx_ids):
                break
            start += max(window - doc_stride, 1)
    return pd.DataFrame(rows)


def arrays(features: pd.DataFrame) -> dict:
    return {"input_ids": Ragged.from_lists(features["input_ids"]),
            "start": features["start_position"].to_numpy(np.int64), "end": features["end_position"].to_numpy(np.int64)}


def collate_arrays(a: dict, idx, pad_id: int, padding_side: str = "right", multiple_of: int | None = None) -> dict:
    if padding_side != "right":
        raise ValueError("span QA positions index from the left: right padding only")
    idx = np.asarray(idx)
    ids, mask = a["input_ids"].pad(idx, pad_id, "right", multiple_of)
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
            "start_positions": torch.from_numpy(a["start"][idx]), "end_positions": torch.from_numpy(a["end"][idx])}


def collate(features: pd.DataFrame, pad_id: int) -> dict[str, torch.Tensor]:
    return collate_arrays(arrays(features), np.arange(len(features)), pad_id)


def lengths(a: dict) -> np.ndarray:
    return a["input_ids"].lengths


def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    return (F.cross_entropy(logits[..., 0], batch["start_positions"])
            + F.cross_entropy(logits[..., 1], batch["end_positions"])) / 2


def best_span(start_lg: np.ndarray, end_lg: np.ndarray, n_best: int, max_answer_length: int) -> tuple[float, int, int] | None:
    """(score, start, end) of the best valid span among the n_best start x n_best end candidates, or None.
    Vectorised over the n_best^2 pairs; ties go to the first pair in (start rank, end rank) order."""
    s_idx = np.argsort(start_lg)[::-1][:n_best]
    e_idx = np.argsort(end_lg)[::-1][:n_best]
    span = e_idx[None, :] - s_idx[:, None] + 1
    scores = np.where((span >= 1) & (span <= max_answer_length), start_lg[s_idx][:, None] + end_lg[e_idx][None, :],
                      -np.inf)
    k = int(np.argmax(scores))
    if not np.isfinite(scores.flat[k]):
        return None
    i, j = divmod(k, scores.shape[1])
    return float(scores.flat[k]), int(s_idx[i]), int(e_idx[j])


def predictions(features: pd.DataFrame, logits: list[torch.Tensor], examples: pd.DataFrame, *,
                allow_no_answer: bool = False, n_best: int = 20, max_answer_length: int = 30, **_) -> dict:
    """{example id: answer text} by n-best span search over all windows of each example; features may come
    in any order (evaluation sorts them by length): ties between windows go to the window that comes first
    in the original order (the features' index).

    With `allow_no_answer` the answer is "" when the null score beats the best span (SQuAD 2.0)."""
    per_feature = [row for chunk in logits for row in chunk.float().cpu().numpy()]
    contexts = dict(zip(examples["id"], examples["context"]))
    best: dict[str, tuple[float, int, str]] = {}  # example id -> (score, original feature position, text)
    null_best: dict[str, float] = {}
    for position, feat, lg in zip(features.index, features.itertuples(index=False), per_feature):
        n_ctx = len(feat.offsets) // 2
        lo = feat.context_offset
        null = lo + n_ctx
        null_best[feat.example_id] = min(null_best.get(feat.example_id, np.inf), float(lg[null, 0] + lg[null, 1]))
        found = best_span(lg[lo:lo + n_ctx, 0], lg[lo:lo + n_ctx, 1], n_best, max_answer_length)
        if found is None:
            continue
        score, s, e = found
        previous = best.get(feat.example_id)
        if previous is None or score > previous[0] or (score == previous[0] and position < previous[1]):
            offs = np.asarray(feat.offsets).reshape(n_ctx, 2)
            best[feat.example_id] = (score, position, span_text(contexts[feat.example_id], offs, s, e))
    out = {}
    for ex_id in contexts:
        score, _, text = best.get(ex_id, (-np.inf, -1, ""))
        if allow_no_answer and null_best.get(ex_id, np.inf) > score:
            text = ""
        out[ex_id] = text
    return out


def score(predictions: dict, examples: pd.DataFrame, *, allow_no_answer: bool = False, **_) -> dict[str, float]:
    golds = {i: list(a) for i, a in zip(examples["id"], examples["answer_texts"])}
    return (squad_v2_scores if allow_no_answer else squad_scores)(predictions, golds)


def distributions(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end distributions over positions (pads already carry -inf-like scores)."""
    start, end = logits[..., 0].float(), logits[..., 1].float()
    return torch.cat([start, end]), torch.ones(2 * logits.shape[0], device=logits.device)
