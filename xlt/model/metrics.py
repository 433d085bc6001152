"""Metrics identical to the official scripts.

EM/F1 follow the SQuAD v1.1 evaluation script that XTREME uses for TyDiQA-GoldP: lowercase, remove
ASCII punctuation only (Unicode marks such as «،» stay), drop English articles, collapse whitespace;
max over gold answers; x100; F1 is 0 without a shared token, so an empty prediction scores F1 0 even
against a gold answer that normalises to nothing (e.g. "The": EM 1, F1 0), as XTREME's
third_party/evaluate_squad.py `f1_score`. SQuAD 2.0 follows the official v2 script: an empty prediction
means "no answer", an unanswerable question's gold answer is the empty string, and two empty answers
have F1 1."""
from __future__ import annotations

import collections
import re
import string

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str, *, v2: bool = False) -> float:
    """Token-overlap F1; `v2`: the SQuAD 2.0 script's rule that an empty side scores 1 only against an
    empty side (v1, XTREME: no shared token, F1 0)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if v2 and (not pred or not ref):
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: dict[str, str], golds: dict[str, list[str]], *, v2: bool = False) -> dict[str, float]:
    """EM and F1 (x100) over `golds`; a missing prediction scores 0 (as the official script). `v2`: F1 by
    the SQuAD 2.0 rule for empty answers."""
    em = f = 0.0
    for qid, answers in golds.items():
        answers = answers or [""]  # unanswerable (SQuAD 2.0)
        pred = predictions.get(qid)
        if pred is None:
            continue
        em += max(exact_match(pred, a) for a in answers)
        f += max(f1(pred, a, v2=v2) for a in answers)
    n = max(len(golds), 1)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f / n}


def squad_v2_scores(predictions: dict[str, str], golds: dict[str, list[str]]) -> dict[str, float]:
    """Overall EM/F1 plus the HasAns / NoAns breakdown of the official v2 script, which also drops gold
    answers that normalise to nothing (e.g. "The") before scoring."""
    golds = {k: [a for a in v if normalize_answer(a)] for k, v in golds.items()}
    out = squad_scores(predictions, golds, v2=True)
    has = {k: v for k, v in golds.items() if v}
    no = {k: v for k, v in golds.items() if not v}
    for name, subset in (("HasAns", has), ("NoAns", no)):
        if subset:
            s = squad_scores(predictions, subset, v2=True)
            out[f"{name}_exact_match"], out[f"{name}_f1"] = s["exact_match"], s["f1"]
    return out


def accuracy(predictions: dict[str, int], labels: dict[str, int]) -> dict[str, float]:
    correct = sum(int(predictions.get(k) == v) for k, v in labels.items())
    return {"accuracy": correct / max(len(labels), 1)}


def token_accuracy(predictions: dict[str, list[str]], golds: dict[str, list[str]]) -> dict[str, float]:
    """Share of words tagged right; missing (e.g. truncated) words count as wrong."""
    right = total = 0
    for sid, gold in golds.items():
        pred = list(predictions.get(sid, []))
        right += sum(p == g for p, g in zip(pred, gold))
        total += len(gold)
    return {"accuracy": right / max(total, 1)}


def binary_f1(predictions: dict[str, int], labels: dict[str, int], positive: int = 1) -> dict[str, float]:
    """F1 of the positive class (GLUE's QQP F1), x1 like accuracy."""
    tp = sum(int(predictions.get(k) == positive and v == positive) for k, v in labels.items())
    fp = sum(int(predictions.get(k) == positive and v != positive) for k, v in labels.items())
    fn = sum(int(predictions.get(k) != positive and v == positive) for k, v in labels.items())
    return {"f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0}


def points(metric: str, value: float) -> float:
    """A dev or test metric on the 0-100 scale every selection score and table uses: accuracy is stored
    as a fraction (0-1), exact_match and f1 of span QA already in points."""
    return float(value) * 100 if metric == "accuracy" else float(value)
