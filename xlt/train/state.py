"""A training run's state, listed once (nanoGPT's checkpoint dict): what a killed run needs to continue
exactly where it was. The objects that keep their own state (model, optimizer, scheduler, the batch RNG,
each task's place in its shuffled epoch, the micro-batches planned ahead, the strategy's noise stream and
SMART's teacher) and the loop's own counters. `state_dict()` is what state.pt holds (written atomically by
xlt/train/resume.py), `load_state_dict()` puts it back; the keys are those of the states saved before
RunState existed, so such a state still resumes."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from xlt.train.batching import BatchPlanner
from xlt.train.resume import BatchStream, restore_rng, rng_state


@dataclass
class RunState:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator            # the batch RNG; saved with the global RNGs (resume.rng_state)
    streams: dict[str, BatchStream]       # each task's place in its shuffled epoch
    planner: BatchPlanner                 # the micro-batches drawn ahead of use
    strategy: object                      # the training step (xlt/adversarial/methods.py), with its own state
    embedding_scale: dict | None = None   # measured once as the run starts (budgets.measure_embedding_scale)
    step: int = 0                         # the last optimizer step completed
    best_score: float = -math.inf         # the best dev selection score so far (points)
    best: dict = field(default_factory=dict)  # {task: dev metrics and step} of that checkpoint
    skipped: int = 0                      # non-finite steps skipped so far (skip_nonfinite_steps)
    log_bytes: int = 0                    # the train log's length at `step`: a resumed run cuts it there

    def state_dict(self) -> dict:
        return {"step": self.step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": rng_state(self.generator),
                "streams": {name: s.state_dict() for name, s in self.streams.items()},
                "planner": self.planner.state_dict(), "strategy": self.strategy.state_dict(),
                "best_score": self.best_score, "best": self.best, "skipped": self.skipped,
                "log_bytes": self.log_bytes, "embedding_scale": self.embedding_scale}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], self.generator)
        for name, s in state["streams"].items():
            self.streams[name].load_state_dict(s)
        self.planner.load_state_dict(state.get("planner"))  # states saved before the lookahead have none
        self.strategy.load_state_dict(state["strategy"], self.model)
        self.step, self.best_score, self.best, self.skipped = (state["step"], state["best_score"], state["best"],
                                                                state["skipped"])
        self.log_bytes, self.embedding_scale = state["log_bytes"], state["embedding_scale"]
