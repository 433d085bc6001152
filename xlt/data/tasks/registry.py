"""The task registry's types and lookups (the task modules register into it; xlt/data/tasks/__init__
imports them all)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd


@dataclass(frozen=True)
class HubPart:
    """One raw piece of a dataset on the Hub: load_dataset(repo, config, split=split, revision=...)."""
    repo: str
    config: str | None
    split: str
    revision: str | None = None  # e.g. "refs/convert/parquet" for repos that still carry a loading script


@dataclass(frozen=True)
class UrlPart:
    """A raw file published outside the Hub (the Hub copy is script-only), fetched over HTTP from a pinned
    commit of its repository: `url` has a {revision} placeholder, `repo` names it for pins (hub_revisions)."""
    url: str
    format: str     # csv | json
    repo: str       # e.g. github:wilburOne/cosmosqa
    revision: str   # the commit the study reads (refresh: python -m xlt.workflow.pins refresh)

    def url_at(self, revision: str | None = None) -> str:
        return self.url.format(revision=revision or self.revision)


@dataclass(frozen=True)
class Task:
    name: str
    format: str                      # classification | span_qa | multiple_choice | tagging
    role: str                        # "intermediate" | "target"
    description: str
    hub: dict[str, HubPart | UrlPart]  # raw key -> where it is published (empty: local files only)
    parts: dict[str, list[str]]      # normalised split -> raw keys it is built from
    # (raw frames of one split keyed by raw key, split name) -> normalised frame
    normalise: Callable[[dict[str, pd.DataFrame], str], pd.DataFrame]
    selection_metric: str            # dev metric used for best-checkpoint selection
    num_labels: int = 0              # classification only
    languages: tuple[str, ...] = ("en",)   # languages of the test split
    allow_no_answer: bool = False    # span QA: may the gold answer be empty (SQuAD 2.0)?
    score_options: dict = field(default_factory=dict)   # extra options for the format's score()
    extra_dev: dict[str, str] = field(default_factory=dict)  # split -> metric prefix, scored on the best checkpoint
    local_only: str = ""             # why there is no public download (then a local source is required)
    parallel_test: bool = False      # test languages are translations of the same items (ids match up to the language)
    columns: tuple[str, ...] = ()    # raw columns `normalise` needs (the Hub copy's); xlt.data.sources checks them first

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.parts)

    @property
    def repos(self) -> list[str]:
        """The repositories the task's raw parts come from (what pins are keyed by)."""
        return list(dict.fromkeys(part.repo for part in self.hub.values()))

    @property
    def dev_splits(self) -> list[str]:
        """English splits used in training: dev plus extra dev splits (e.g. MNLI mismatched)."""
        return ["dev", *self.extra_dev]


REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    REGISTRY[task.name] = task
    return task


def get_task(name: str) -> Task:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {sorted(REGISTRY)}") from None


def intermediate_tasks() -> list[str]:
    return [n for n, t in REGISTRY.items() if t.role == "intermediate"]


def target_tasks() -> list[str]:
    return [n for n, t in REGISTRY.items() if t.role == "target"]


