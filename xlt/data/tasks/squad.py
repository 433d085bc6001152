"""SQuAD 1.1 and SQuAD 2.0 (intermediate span-QA tasks); dev = the official validation set."""
from __future__ import annotations

from xlt.data.tasks.registry import HubPart, Task, register
from xlt.data.tasks.common import span_frame

for name, repo, no_answer in (("squad", "rajpurkar/squad", False), ("squad_v2", "rajpurkar/squad_v2", True)):
    register(Task(
        name=name, format="span_qa", role="intermediate", allow_no_answer=no_answer,
        description=f"{'SQuAD 2.0 (with unanswerable questions)' if no_answer else 'SQuAD 1.1'}",
        hub={"train": HubPart(repo, None, "train"), "validation": HubPart(repo, None, "validation")},
        parts={"train": ["train"], "dev": ["validation"]},
        normalise=lambda raw, split: span_frame(next(iter(raw.values())), "en"),
        selection_metric="f1", columns=("id", "context", "question", "answers"),  # title optional
    ))
