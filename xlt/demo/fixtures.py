"""Deterministic fixtures for every dataset, in the normalised schemas, with text in each language's
real script. Labels follow simple, learnable rules so a tiny model can fit them (tests rely on it);
the numbers the demo reports are still meaningless for the research question."""
from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from xlt.io import write_parquet
from xlt.data.tasks import REGISTRY, get_task

# Letters per language, in its real script; pseudo-words are drawn from these.
ALPHABETS = {
    "en": "abcdefghijklmnoprstuvwy", "de": "abcdefghiklmnoprstuwzäöüß", "es": "abcdefgilmnoprstuvzáéíñó",
    "fr": "abcdefgilmnoprstuvàâçéèêô", "fi": "adehijklmnoprstuvyäö", "id": "abcdegiklmnoprstuy",
    "sw": "abdefghijklmnoprstuwyz",
    "ja": "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわん日本語学校時間",
    "zh": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
    "ko": "가나다라마바사아자차카타파하고노도로모보소오조호기니디리미비시이지히",
    "ar": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "bn": "অআইউএওকখগঘচছজঝটঠডঢতথদধনপফবভমযরলশসহ",
    "te": "అఆఇఈఉఎఒకగచజటడతదనపబమయరలవశసహ",
    "ru": "абвгдежзийклмнопрстуфхцчшщыэюя",
}
NO_SPACES = {"ja", "zh"}  # scripts written without spaces between words
SIZES = {"train": 96, "dev": 32, "test": 24}  # test: per language


class Lang:
    """A seeded pseudo-lexicon for one language."""

    def __init__(self, code: str, seed: int):
        self.code, self.rng = code, random.Random(f"{code}-{seed}")
        letters = ALPHABETS[code]
        self.words = sorted({"".join(self.rng.choice(letters) for _ in range(self.rng.randint(2, 5)))
                             for _ in range(60)})
        self.sep = "" if code in NO_SPACES else " "

    def sentence(self, n: int) -> str:
        return self.sep.join(self.rng.choice(self.words) for _ in range(n))

    def join(self, *parts: str) -> str:
        return self.sep.join(p for p in parts if p)


def _pair_rows(task: str, split: str, lang: Lang, n: int, num_labels: int) -> list[dict]:
    """Pairs whose label is a function of the text: 0 = b repeats a, 1 = b is new, 2 = b negates a."""
    rows = []
    neg = lang.words[0]
    for i in range(n):
        a = lang.sentence(lang.rng.randint(4, 9))
        label = i % num_labels
        b = {0: a, 1: lang.sentence(lang.rng.randint(4, 9)), 2: lang.join(neg, a)}[label]
        if num_labels == 2 and task == "paws_x":  # paraphrase = same words (label 1), else not
            label = 1 - label
        rows.append({"id": f"{task}-{split}-{lang.code}-{i}", "language": lang.code,
                     "text_a": a, "text_b": b, "label": label})
    return rows


def _qa_rows(task: str, split: str, lang: Lang, n: int, allow_no_answer: bool) -> list[dict]:
    """Context holds `key answer` pairs; the question names a key; the answer follows it."""
    rows = []
    for i in range(n):
        keys = lang.rng.sample(lang.words[1:], 4)
        answers = [lang.sentence(lang.rng.randint(1, 3)) for _ in keys]
        filler = [lang.sentence(lang.rng.randint(2, 5)) for _ in keys]
        context, starts = "", []
        for k, a, f in zip(keys, answers, filler):
            prefix = lang.join(context, f, k)
            starts.append(len(prefix) + len(lang.sep))
            context = lang.join(prefix, a)
        pick = i % len(keys)
        unanswerable = allow_no_answer and i % 3 == 2
        question = lang.join(lang.words[0], lang.rng.choice(lang.words[1:]) if unanswerable else keys[pick])
        texts, offs = ([], []) if unanswerable else ([answers[pick]], [starts[pick]])
        rows.append({"id": f"{task}-{split}-{lang.code}-{i}", "language": lang.code, "title": f"t{i}",
                     "context": context, "question": question, "answer_texts": texts, "answer_starts": offs})
    return rows


def _choice_rows(task: str, split: str, lang: Lang, n: int, n_choices: int = 4) -> list[dict]:
    """The right choice repeats the context's last word; distractors start with other words."""
    rows = []
    for i in range(n):
        context = lang.sentence(lang.rng.randint(4, 9))
        last = context.split(" ")[-1] if lang.sep else context[-2:]
        label = lang.rng.randrange(n_choices)
        choices = [lang.join(last if c == label else lang.rng.choice(lang.words), lang.sentence(2))
                   for c in range(n_choices)]
        rows.append({"id": f"{task}-{split}-{lang.code}-{i}", "language": lang.code, "context": context,
                     "choices": choices, "label": label})
    return rows


TAGS = ("N", "N/N", "NP", "(S\\NP)/NP", "S\\NP", ",", ".")


def _tag_rows(task: str, split: str, lang: Lang, n: int) -> list[dict]:
    """A word's supertag is a function of its first letter (plus sentence-final '.'): the word's last
    sub-token, where the tag is predicted, has seen it (causal attention)."""
    letters = ALPHABETS[lang.code]
    tag_of = {w: TAGS[letters.index(w[0]) % (len(TAGS) - 1)] for w in lang.words}
    rows = []
    for i in range(n):
        words = [lang.rng.choice(lang.words) for _ in range(lang.rng.randint(3, 10))] + ["."]
        rows.append({"id": f"{task}-{split}-{lang.code}-{i}", "language": lang.code, "tokens": words,
                     "tags": [tag_of.get(w, ".") for w in words]})
    return rows


def make_split(task_name: str, split: str, seed: int = 0) -> pd.DataFrame:
    task = get_task(task_name)
    langs = task.languages if split == "test" else ("en",)
    rows = []
    for code in langs:
        lang = Lang(code, seed)
        lang.rng = random.Random(f"{task_name}-{split}-{code}-{seed}")  # own stream per split: no overlap
        n = SIZES["dev" if split.startswith("dev") else split]
        if task.format == "classification":
            rows += _pair_rows(task_name, split, lang, n, task.num_labels)
        elif task.format == "span_qa":
            rows += _qa_rows(task_name, split, lang, n, task.allow_no_answer)
        elif task.format == "multiple_choice":
            rows += _choice_rows(task_name, split, lang, n, 5 if task_name == "commonsense_qa" else 4)
        else:
            rows += _tag_rows(task_name, split, lang, n)
    return pd.DataFrame(rows)


def write_fixtures(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Every task's splits as normalised parquet; CCG also in its local `tokens<TAB>tags` form."""
    written = []
    for name, task in REGISTRY.items():
        for split in task.parts:
            df = make_split(name, split, seed)
            path = Path(out_dir) / name / f"{split}.parquet"
            write_parquet(df, path)
            written.append(path)
            if task.format == "tagging":
                tsv = path.with_suffix(".tsv")
                tsv.write_text("".join(" ".join(t) + "\t" + " ".join(g) + "\n" for t, g in zip(df["tokens"], df["tags"])),
                               encoding="utf-8")
                written.append(tsv)
    return written


def pretraining_corpus(seed: int = 0, sentences_per_language: int = 200) -> list[str]:
    """Unlabelled text in every language, from the same lexicons as the fixtures but not the fixtures
    themselves: the demo tokenizer's "pretraining" data. Training it on the fixtures would let target
    test text shape the model (no strict zero-shot)."""
    texts = []
    for code in ALPHABETS:
        lang = Lang(code, seed)
        lang.rng = random.Random(f"corpus-{code}-{seed}")
        texts += [lang.sentence(lang.rng.randint(3, 12)) for _ in range(sentences_per_language)]
    return texts
