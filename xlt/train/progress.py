"""The training job's human-readable record (its Snakemake log, results/logs/train_*/...): a header that
says what runs, then a timestamped line every few steps with loss, learning rate, gradient norm and
throughput, every dev evaluation, and any non-finite step the moment it happens. The per-step numbers
for plots live in train_log.jsonl; these lines are for watching (`tail -f`) and for the record when a
job dies: each is written with a newline and flushed, so a killed job's log ends at its last step."""
from __future__ import annotations

import math
import sys
import time

LINES_PER_RUN = 20  # a run logs about this many step lines, however long it is


def every(total_steps: int) -> int:
    """Steps between two step lines: ~LINES_PER_RUN lines per run, every step for short runs."""
    return max(1, total_steps // LINES_PER_RUN)


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def header(fields: dict) -> str:
    """'train: key value' lines, one per field that is set (the run's identity and schedule)."""
    width = max(len(k) for k in fields)
    return "\n".join(f"{stamp()} train: {k.ljust(width)}  {_value(v)}" for k, v in fields.items() if v is not None)


class Progress:
    """Writes the lines to `out` (the job's stdout, i.e. its log) and keeps the running sums between two lines."""

    def __init__(self, total_steps: int, start: int = 1, out=None):
        self.total, self.every, self.out = total_steps, every(total_steps), out
        self._reset(start, time.time())

    def _reset(self, step: int, now: float) -> None:
        self.since_step, self.since_time, self.losses, self.tokens, self.sequences = step, now, [], 0, 0

    def write(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)

    def step(self, step: int, loss: float, lr: float, grad_norm: float, tokens: int, sequences: int,
             skipped: int = 0) -> None:
        """Account one optimizer step; write its line when it is due (every `every` steps, the first and the
        last), and a warning line at once when its loss or gradient norm is not finite."""
        if math.isfinite(loss):
            self.losses.append(loss)
        self.tokens += tokens
        self.sequences += sequences
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            self.write(f"{stamp()} NON-FINITE at step {step}/{self.total}: loss {loss}, grad_norm {grad_norm}"
                       + (f" — step skipped ({skipped} so far, skip_nonfinite_steps)" if skipped else
                          " — the run stops (set skip_nonfinite_steps: true to skip such steps)"))
        if step % self.every and step not in (1, self.total):
            return
        now = time.time()
        seconds, steps = max(now - self.since_time, 1e-9), step - self.since_step + 1
        mean = sum(self.losses) / len(self.losses) if self.losses else float("nan")
        self.write(f"{stamp()} step {step}/{self.total}  loss {mean:.4f}"
                   + (f" (mean of {len(self.losses)} steps)" if len(self.losses) > 1 else "")
                   + f"  lr {lr:.3g}  grad_norm {grad_norm:.3g}  {steps / seconds:.2f} steps/s  "
                   f"{self.sequences / seconds:,.1f} sequences/s  {self.tokens / seconds:,.0f} tokens/s")
        self._reset(step + 1, now)

    def evaluated(self, step: int, score: float, best: bool) -> None:
        self.write(f"{stamp()} dev at step {step}/{self.total}: selection score {score:.2f}"
                   + (" (best so far: checkpoint kept)" if best else ""))
