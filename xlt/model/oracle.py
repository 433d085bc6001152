"""The span-QA oracle: what a perfect model could score, per language, through this project's own
featurisation, n-best span search and scoring (span_qa.featurize / predictions / score) — logits that put
all mass on the labelled gold start and end tokens. No model is run (results/report/span_ceiling.csv;
summary.md's text about it: xlt/analysis/span_ceiling.py). Every system shares the ceiling: it does not
bias comparisons, but it compresses them, and absolute scores and language groups are read against it.
What it loses:

- a gold answer with a boundary inside a token (BLOOM's whole-word pre-tokens merge across an answer's
  end when a suffix follows it in the same word: the span from token boundaries carries the suffix);
- answers longer than `max_answer_length` tokens (the n-best search never proposes them);
- questions longer than `max_query_length` tokens are cut (they lose words, not the answer).

    python -m xlt.model.oracle --tydiqa ../shared/data/tydiqa-goldp

measures it on real TyDiQA-GoldP with a BLOOM-pipeline BPE trained on TyDiQA text (a stand-in for BLOOM's
250k vocabulary, which is not downloadable here): the English-train length quantiles `qa.auto_coverage`
chooses from, the oracle EM per dev language at each share's lengths and with no cap, and how many
contexts need more than one window (`doc_stride`). docs/protocol.md reports the numbers."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from xlt.model.formats import span_qa
from xlt.model.lengths import answer_lengths, answer_spans, choose, question_lengths, span_lengths

ORACLE = 1e4  # logit on the gold start and end; every other position 0
COLUMNS = ["model", "target", "language", "n", "max_answer_length", "max_query_length", "lengths",
           "oracle_exact_match", "oracle_f1", "boundary_inside_token", "over_answer_cap", "question_truncated"]


def oracle_logits(features: pd.DataFrame) -> list[torch.Tensor]:
    """Per feature [1, length, 2]: all mass on its labelled gold start and end; flat in windows without the
    answer (their null position is the label), so the window that holds the answer wins."""
    out = []
    for f in features.itertuples(index=False):
        lg = torch.zeros(1, len(f.input_ids), 2)
        if f.start_position != len(f.input_ids) - 1:
            lg[0, f.start_position, 0] = lg[0, f.end_position, 1] = ORACLE
        out.append(lg)
    return out


def boundary_inside_token(context: str, offsets, start: int, end: int) -> bool:
    """Whether the gold answer [start, end) starts or ends inside a token: a token reaches across a
    boundary with more than whitespace on the far side (a leading space in a token's offset is not)."""
    for s, e in offsets:
        if s < start < e and context[s:start].strip():
            return True
        if s < end < e and context[end:e].strip():
            return True
    return False


def inside_token_share(spans: list[tuple[str, list, int, int]]) -> float:
    """Share of answer spans (lengths.answer_spans) with a boundary inside a token."""
    if not spans:
        return float("nan")
    return float(np.mean([boundary_inside_token(*span) for span in spans]))


def oracle_scores(examples: pd.DataFrame, features: pd.DataFrame, *, n_best: int, max_answer_length: int) -> dict:
    """EM and F1 (x100) of the oracle through span_qa.predictions and span_qa.score."""
    preds = span_qa.predictions(features, oracle_logits(features), examples, n_best=n_best,
                                max_answer_length=max_answer_length)
    return span_qa.score(preds, examples)


def language_ceiling(examples: pd.DataFrame, features: pd.DataFrame, tokenizer, *, n_best: int,
                     max_answer_length: int, max_query_length: int) -> dict:
    """One language's row: oracle EM/F1 at these settings and the shares it loses (0-1)."""
    scores = oracle_scores(examples, features, n_best=n_best, max_answer_length=max_answer_length)
    spans = answer_spans(examples, tokenizer)  # each context tokenised once, for both measures
    answers = span_lengths(spans)
    return {"n": len(examples), "max_answer_length": max_answer_length, "max_query_length": max_query_length,
            "oracle_exact_match": scores["exact_match"], "oracle_f1": scores["f1"],
            "boundary_inside_token": inside_token_share(spans),
            "over_answer_cap": float(np.mean(answers > max_answer_length)) if len(answers) else float("nan"),
            "question_truncated": float(np.mean(question_lengths(examples, tokenizer) > max_query_length))}


def ceiling_table(examples: pd.DataFrame, features: pd.DataFrame, tokenizer, languages: list[str], *,
                  qa: dict, features_cfg: dict, lengths: str) -> pd.DataFrame:
    """Rows per language of one (model, target): `features` = its featurised test split (all languages),
    `qa` / `features_cfg` = the settings it was made and is evaluated with (no `auto` left)."""
    rows = []
    for lang in languages:
        ex, ft = examples[examples["language"] == lang], features[features["language"] == lang]
        if ex.empty:
            raise ValueError(f"no {lang!r} examples in the test split; remove {lang} from study.targets")
        rows.append({"language": lang, "lengths": lengths,
                     **language_ceiling(ex, ft, tokenizer, n_best=qa["n_best"], max_answer_length=qa["max_answer_length"],
                                        max_query_length=features_cfg["max_query_length"])})
    return pd.DataFrame(rows)


# ---- the measurement on real TyDiQA-GoldP (python -m xlt.model.oracle) ----

SHARES = (0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
NO_CAP = 100_000  # a length no answer or question reaches


def proxy_tokenizer(splits: dict[str, pd.DataFrame], vocab_size: int):
    """A BLOOM-pipeline BPE trained on every TyDiQA text given (each passage once, and the questions): a
    stand-in for BLOOM's own multilingual vocabulary, used for measurement only."""
    from xlt.model.bloom_tokenizer import train_bloom_tokenizer

    texts = [t for df in splits.values() for t in (*dict.fromkeys(df["context"]), *df["question"])]
    return train_bloom_tokenizer(texts, vocab_size)


def oracle_at(examples: pd.DataFrame, tokenizer, *, max_length: int, doc_stride: int, n_best: int,
              max_answer_length: int, max_query_length: int) -> tuple[dict, pd.DataFrame]:
    """(oracle EM/F1, features) of `examples` featurised and scored at these settings."""
    feats = span_qa.featurize(examples, tokenizer, max_length=max_length, doc_stride=doc_stride,
                              max_query_length=max_query_length)
    return oracle_scores(examples, feats, n_best=n_best, max_answer_length=max_answer_length), feats


def measure(train: pd.DataFrame, sets: dict[str, pd.DataFrame], tokenizer, *, max_length: int = 384,
            doc_stride: int = 128, n_best: int = 20, shares=SHARES) -> dict:
    """The table docs/protocol.md reports. Per share: the answer and question lengths covering it on English
    `train`. Per evaluation set (name -> examples): the oracle EM with no cap and with both caps at each
    share's lengths, the share of answers over that answer cap and of questions over that question cap, and
    how many contexts need several windows (and hold the answer in more than one)."""
    chosen = {s: choose(train, tokenizer, {"max_answer_length": s, "max_query_length": s}) for s in shares}
    out = {"lengths": {str(s): {k: c[k] for k in ("max_answer_length", "max_query_length")} for s, c in chosen.items()},
           "oracle_em": {}, "answers_over_cap": {}, "questions_truncated": {}, "windows": {}}
    for name, ex in sets.items():
        free, feats = oracle_at(ex, tokenizer, max_length=max_length, doc_stride=doc_stride, n_best=n_best,
                                max_answer_length=NO_CAP, max_query_length=NO_CAP)
        answers, questions = answer_lengths(ex, tokenizer), question_lengths(ex, tokenizer)
        out["oracle_em"][name] = {"no cap": free["exact_match"]}
        out["answers_over_cap"][name], out["questions_truncated"][name] = {}, {}
        for s, c in chosen.items():
            out["oracle_em"][name][str(s)] = oracle_at(
                ex, tokenizer, max_length=max_length, doc_stride=doc_stride, n_best=n_best,
                max_answer_length=c["max_answer_length"], max_query_length=c["max_query_length"])[0]["exact_match"]
            out["answers_over_cap"][name][str(s)] = float(np.mean(answers > c["max_answer_length"]))
            out["questions_truncated"][name][str(s)] = float(np.mean(questions > c["max_query_length"]))
        per_example = feats.groupby("example_id").size()
        labelled = feats[feats["start_position"] != feats["input_ids"].map(len) - 1].groupby("example_id").size()
        out["windows"][name] = {"several_windows": float((per_example > 1).mean()),
                                "answer_in_several": float((labelled > 1).sum() / len(ex))}
    return out


def main(argv: list[str] | None = None) -> int:
    from xlt.data.sources import prepare_split
    from xlt.data.tasks import get_task

    p = argparse.ArgumentParser(prog="python -m xlt.model.oracle",
                                description="Answer/question length quantiles and the oracle span ceiling on real TyDiQA-GoldP.")
    p.add_argument("--tydiqa", required=True, help="folder with train-en.json and dev/<lang>.json (README)")
    p.add_argument("--vocab", type=int, default=30_000, help="vocabulary of the BLOOM-pipeline stand-in BPE")
    args = p.parse_args(argv)
    root = Path(args.tydiqa)
    source = {"local": {"format": "squad_json", "files": {
        "train": str(root / "train-en.json"), "validation": sorted(str(f) for f in (root / "dev").glob("*.json"))}}}
    task = get_task("tydiqa")
    splits = {s: prepare_split(task, source, s) for s in ("train", "dev", "test")}
    tokenizer = proxy_tokenizer(splits, args.vocab)
    test = splits["test"]
    sets = {"en (dev carved from train)": splits["dev"],
            **{lang: test[test["language"] == lang] for lang in sorted(test["language"].unique(), key=lambda lg: (lg != "en", lg))}}
    json.dump(measure(splits["train"], sets, tokenizer), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
