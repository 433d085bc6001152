"""GPUs on a workstation: how many jobs may use them at once, and which one each job uses.

The Snakefile caps the `gpu` resource at the number of visible GPUs for local runs (unless the user set
`--resources gpu=N`), so `snakemake --cores 8` on a 1-GPU box never runs two training jobs on it; CPU-only
machines and cluster runs are left alone. Each GPU job then holds a slot — an exclusive lock on one
device's lock file — and sees only that device (CUDA_VISIBLE_DEVICES), so on a 4-GPU box four jobs use
four different GPUs. Under SLURM the scheduler assigns devices, so no slot is taken.

XLT_VISIBLE_GPUS (a count or a comma list) overrides detection (tests simulate GPUs with it);
XLT_GPU_SLOTS sets the lock directory (default: one per user in the temp dir, shared by all workflows
on the machine, so two concurrent Snakemake runs do not share a GPU either)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def visible_gpus() -> list[str]:
    """Device ids this process may use: XLT_VISIBLE_GPUS, else CUDA_VISIBLE_DEVICES, else nvidia-smi."""
    forced = os.environ.get("XLT_VISIBLE_GPUS")
    if forced is not None:
        forced = forced.strip()
        return [str(i) for i in range(int(forced))] if forced.isdigit() else [d for d in forced.split(",") if d]
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]
    return []


def slots_dir() -> Path:
    return Path(os.environ.get("XLT_GPU_SLOTS") or Path(tempfile.gettempdir()) / f"xlt-gpu-slots-{os.getuid()}")


@contextlib.contextmanager
def gpu_slot(poll_s: float = 1.0):
    """Hold one visible GPU for the duration of the block and expose only it to this process."""
    devices = visible_gpus()
    if not devices or os.environ.get("SLURM_JOB_ID"):
        yield None
        return
    folder = slots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for device in devices:
            fh = open(folder / f"gpu-{device}.lock", "w")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            previous = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = device
            print(f"gpu-slot acquire device={device} t={time.time():.3f}", flush=True)
            try:
                yield device
            finally:
                print(f"gpu-slot release device={device} t={time.time():.3f}", flush=True)
                if previous is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = previous
                fcntl.flock(fh, fcntl.LOCK_UN)
                fh.close()
            return
        if not waited:
            print(f"gpu-slot: all of {devices} are busy (another workflow?); waiting", flush=True)
            waited = True
        time.sleep(poll_s)
