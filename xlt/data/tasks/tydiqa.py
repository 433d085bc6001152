"""TyDiQA-GoldP (target). No test split exists: the official dev set is the zero-shot test set
(XTREME), and the English dev split for model selection is carved out of English train."""
from __future__ import annotations

import pandas as pd

from xlt.data.tasks.registry import HubPart, Task, register
from xlt.data.tasks.common import span_frame, stable_bucket

REPO = "google-research-datasets/tydiqa"
LANG_CODES = {"english": "en", "arabic": "ar", "bengali": "bn", "finnish": "fi", "indonesian": "id",
              "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te"}
LANGUAGES = tuple(LANG_CODES.values())
DEV_BUCKETS = 10  # 1 in 10 English training articles (by title) becomes the dev split


def language_of(example_id: str) -> str:
    """TyDiQA ids start with the language name: 'english-123-0' -> 'en'."""
    name = example_id.split("-", 1)[0]
    try:
        return LANG_CODES[name]
    except KeyError:
        raise ValueError(f"TyDiQA id {example_id!r} has unknown language prefix {name!r}; "
                         f"expected one of {sorted(LANG_CODES)}") from None


def is_dev_article(title: str) -> bool:
    # Split by article so a dev question never shares its passage with a training question.
    return stable_bucket(title, DEV_BUCKETS) == 0


def normalise(raw: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
    (source,) = raw.values()
    df = span_frame(source, [language_of(i) for i in source["id"]])
    if split == "test":
        return df
    df = df[df["language"] == "en"]
    dev = df["title"].map(is_dev_article)
    return df[dev if split == "dev" else ~dev].reset_index(drop=True)


register(Task(
    name="tydiqa", format="span_qa", role="target", languages=LANGUAGES,
    description="TyDiQA-GoldP: extractive QA; English train, dev carved from train, test = official dev",
    hub={"train": HubPart(REPO, "secondary_task", "train"),
         "validation": HubPart(REPO, "secondary_task", "validation")},
    parts={"train": ["train"], "dev": ["train"], "test": ["validation"]},
    normalise=normalise, columns=("id", "title", "context", "question", "answers"),  # title: dev carving
    selection_metric="f1",
))
