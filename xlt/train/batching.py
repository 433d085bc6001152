"""The training data path: which micro-batch comes next (planned ahead, resumable) and building it in a
background thread, so the accelerator does not wait for the CPU.

BatchPlanner is the only consumer of the batch RNG: it draws (task, feature indices) for each micro-batch in
training order — the task by mixing weights, the indices from that task's shuffled (length-grouped)
stream — `ahead` micro-batches before they are used. The draws are the same, in the same order, as
without lookahead, so results do not depend on it; the saved state holds the RNG after the lookahead
draws plus the drawn-but-unused plans, so a resumed run continues exactly.

Prefetcher collates planned batches from the arrays of xlt/model/formats (numpy gathers, no pandas) in one
worker thread, pins them on CUDA machines, and hands them over in order."""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch


class BatchPlanner:
    def __init__(self, names: list[str], probs: torch.Tensor, streams: dict, generator: torch.Generator,
                 ahead: int = 2):
        self.names, self.probs, self.streams, self.generator, self.ahead = names, probs, streams, generator, ahead
        self.pending: deque[tuple[str, np.ndarray]] = deque()

    def _draw(self) -> tuple[str, np.ndarray]:
        if len(self.names) > 1:
            name = self.names[int(torch.multinomial(self.probs, 1, generator=self.generator))]
        else:
            name = self.names[0]
        return name, self.streams[name].next_indices()

    def fill(self) -> None:
        while len(self.pending) < self.ahead + 1:
            self.pending.append(self._draw())

    def next(self) -> tuple[str, np.ndarray]:
        self.fill()
        return self.pending.popleft()

    def upcoming(self) -> list[tuple[str, np.ndarray]]:
        return list(self.pending)

    def state_dict(self) -> dict:
        return {"pending": [(name, idx.copy()) for name, idx in self.pending]}

    def load_state_dict(self, state: dict | None) -> None:
        self.pending = deque((name, np.asarray(idx)) for name, idx in (state or {}).get("pending", []))


class Prefetcher:
    """Collates planned micro-batches in a worker thread, in plan order; `get()` returns the next one."""

    def __init__(self, planner: BatchPlanner, collate: Callable[[str, np.ndarray], dict], pin: bool):
        self.planner, self.collate, self.pin = planner, collate, pin
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlt-batches")
        self.futures: deque[Future] = deque()

    def _build(self, name: str, idx: np.ndarray) -> tuple[str, dict]:
        batch = self.collate(name, idx)
        if self.pin:
            batch = {k: v.pin_memory() for k, v in batch.items()}
        return name, batch

    def get(self) -> tuple[str, dict]:
        name, idx = self.planner.next()
        # futures[i] builds the i-th plan still pending when it was queued: the first is this one
        result = self.futures.popleft().result() if self.futures else self._build(name, idx)
        for plan in self.planner.upcoming()[len(self.futures):]:  # keep the worker ahead
            self.futures.append(self.pool.submit(self._build, *plan))
        return result

    def reset(self) -> None:
        """Drop queued work (after the planner's pending list was replaced, e.g. on resume)."""
        for f in self.futures:
            f.cancel()
        self.futures.clear()

    def close(self) -> None:
        self.reset()
        self.pool.shutdown(wait=True)
