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

from xlt.formats import pad_batch, separator_ids
from xlt.metrics import squad_scores, squad_v2_scores


def char_to_token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """Token indices (inclusive) covering characters [start, end), or None if not fully covered."""
    first = next((i for i, (s, e) in enumerate(offsets) if e > start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end), None)
    if first is None or last is None or last < first or offsets[first][0] > start or offsets[last][1] < end:
        return None
    return first, last


def span_text(context: str, offsets: np.ndarray, first: int, last: int) -> str:
    """Context characters covered by context tokens first..last. Byte-level BPE can glue a leading
    space to a token that starts inside a multi-byte character, so surrounding whitespace is dropped."""
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


def collate(features: pd.DataFrame, pad_id: int) -> dict[str, torch.Tensor]:
    ids, mask = pad_batch(features["input_ids"].tolist(), pad_id)
    return {"input_ids": ids, "attention_mask": mask,
            "start_positions": torch.tensor(features["start_position"].values),
            "end_positions": torch.tensor(features["end_position"].values)}


def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    return (F.cross_entropy(logits[..., 0], batch["start_positions"])
            + F.cross_entropy(logits[..., 1], batch["end_positions"])) / 2


def predictions(features: pd.DataFrame, logits: list[torch.Tensor], examples: pd.DataFrame, *,
                allow_no_answer: bool = False, n_best: int = 20, max_answer_length: int = 30, **_) -> dict:
    """{example id: answer text} by n-best span search over all windows of each example.

    With `allow_no_answer` the answer is "" when the null score beats the best span (SQuAD 2.0)."""
    per_feature = [row for chunk in logits for row in chunk.float().cpu().numpy()]
    contexts = dict(zip(examples["id"], examples["context"]))
    best: dict[str, tuple[float, str]] = {}
    null_best: dict[str, float] = {}
    for feat, lg in zip(features.itertuples(index=False), per_feature):
        start_lg, end_lg = lg[:, 0], lg[:, 1]
        n_ctx = len(feat.offsets) // 2
        offs = np.asarray(feat.offsets).reshape(n_ctx, 2)
        lo = feat.context_offset
        null = lo + n_ctx
        null_score = float(start_lg[null] + end_lg[null])
        null_best[feat.example_id] = min(null_best.get(feat.example_id, np.inf), null_score)
        ctx_start, ctx_end = start_lg[lo:lo + n_ctx], end_lg[lo:lo + n_ctx]
        for s in np.argsort(ctx_start)[::-1][:n_best]:
            for e in np.argsort(ctx_end)[::-1][:n_best]:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(ctx_start[s] + ctx_end[e])
                if score > best.get(feat.example_id, (-np.inf, ""))[0]:
                    text = span_text(contexts[feat.example_id], offs, s, e)
                    best[feat.example_id] = (score, text)
    out = {}
    for ex_id in contexts:
        score, text = best.get(ex_id, (-np.inf, ""))
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
