"""Resumable training: the state that makes a killed run continue exactly where it was.

State = model, optimizer, scheduler, every RNG (python, numpy, torch CPU/CUDA, the batch generator), each
task's position in its shuffled epoch, the best dev score so far and the strategy's own state (SMART's
teacher). It is written atomically every `save_every` optimizer steps and when SIGTERM arrives (SLURM
preemption and time limits send it), into a work folder next to the run's outputs; the best checkpoint
and the train log live there too until the run completes, so no partial output ever looks complete."""
from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import numpy as np
import torch

from xlt.io import atomic_path

STATE = "state.pt"


class BatchStream:
    """Shuffled epochs over one task's training features, with a position that can be saved.

    With `lengths`, batches are length-grouped (as HF's group_by_length): each epoch's random order is
    cut into mega-batches of `GROUP` batches, each sorted by length, and the batches are shuffled — so a
    batch holds similar lengths (little padding) while batch order and composition stay random."""

    GROUP = 50

    def __init__(self, size: int, batch_size: int, generator: torch.Generator, lengths: np.ndarray | None = None):
        self.size, self.batch_size, self.generator, self.lengths = size, batch_size, generator, lengths
        self.order, self.pos = None, 0

    def _epoch_order(self) -> np.ndarray:
        order = torch.randperm(self.size, generator=self.generator).numpy()
        if self.lengths is None:
            return order
        mega = self.batch_size * self.GROUP
        grouped = np.concatenate([chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                                  for chunk in np.split(order, range(mega, self.size, mega))])
        batches = np.split(grouped, range(self.batch_size, self.size, self.batch_size))
        shuffle = torch.randperm(len(batches), generator=self.generator).numpy()
        return np.concatenate([batches[i] for i in shuffle])

    def next_indices(self) -> np.ndarray:
        if self.order is None or self.pos >= self.size:
            self.order, self.pos = self._epoch_order(), 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"order": None if self.order is None else self.order.copy(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.pos = state["order"], state["pos"]


def padding_fraction(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Share of pad tokens when each batch is padded to its longest sequence."""
    real = sum(int(lengths[b].sum()) for b in batches)
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    return 1 - real / padded


def rng_state(generator: torch.Generator) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "batches": generator.get_state()}


def restore_rng(state: dict, generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["batches"])


def save_state(work: Path, state: dict) -> None:
    with atomic_path(work / STATE) as tmp:
        torch.save(state, tmp)


def load_state(work: Path) -> dict | None:
    path = work / STATE
    return torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None


class TerminationFlag:
    """Turns SIGTERM into a flag the loop checks after each optimizer step (save, then stop)."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        def handler(signum, frame):
            self.raised = True
        try:
            self._previous = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def fault_injection(step: int, work: Path) -> None:
    """Tests: XLT_SIGNAL_AT_STEP="7:TERM" (or KILL) sends that signal to this process after step 7;
    "7:TERM@multitask" only in runs whose work folder path contains "multitask"."""
    spec = os.environ.get("XLT_SIGNAL_AT_STEP")
    if spec:
        spec, _, where = spec.partition("@")
        at, name = spec.split(":")
        if int(at) == step and where in str(work):
            os.kill(os.getpid(), getattr(signal, f"SIG{name}"))
