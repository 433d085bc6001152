"""What a training run cost, measured from the run itself: the real (non-pad) tokens its steps trained on
and the time those steps took (train_log.jsonl's `tokens` and `step_s`; dev evaluations and saving excluded),
and the peak GPU memory of the process (None on a machine without a GPU: not measured, never estimated).
fine_tune writes these into dev_metrics.json (`resources`); the pilot report reads them back."""
from __future__ import annotations

import json
from pathlib import Path


def step_totals(log_path: str | Path) -> dict:
    """{steps, tokens, seconds} summed over the step records of a train log."""
    steps = tokens = 0
    seconds = 0.0
    for line in Path(log_path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "tokens" in record and "step_s" in record:
            steps, tokens, seconds = steps + 1, tokens + record["tokens"], seconds + record["step_s"]
    return {"steps": steps, "tokens": tokens, "seconds": round(seconds, 3)}


def reset_peak_gpu_memory() -> None:
    """Start the peak from here (a warm worker's process may have run other jobs before this one)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_memory() -> dict:
    """{device, peak_gpu_memory_bytes (allocated), peak_gpu_memory_reserved_bytes} of this process; the
    byte counts are None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return {"device": "cpu", "peak_gpu_memory_bytes": None, "peak_gpu_memory_reserved_bytes": None}
    return {"device": torch.cuda.get_device_name(), "peak_gpu_memory_bytes": int(torch.cuda.max_memory_allocated()),
            "peak_gpu_memory_reserved_bytes": int(torch.cuda.max_memory_reserved())}


def run_resources(log_path: str | Path) -> dict:
    """The run's measured cost: step totals, tokens per minute of training steps, peak GPU memory."""
    totals = step_totals(log_path)
    rate = 60 * totals["tokens"] / totals["seconds"] if totals["seconds"] > 0 else None
    return {**totals, "tokens_per_minute": rate, **peak_gpu_memory()}
