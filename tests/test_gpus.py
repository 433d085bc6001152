"""GPU slots on a workstation (xlt/workflow/gpus.py): detection and per-job devices."""
import multiprocessing as mp
import os
import time

from xlt.workflow.gpus import gpu_slot, visible_gpus


def test_visible_gpus_from_the_environment(monkeypatch):
    monkeypatch.delenv("XLT_VISIBLE_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []  # explicitly none
    monkeypatch.setenv("XLT_VISIBLE_GPUS", "3")
    assert visible_gpus() == ["0", "1", "2"]
    monkeypatch.setenv("XLT_VISIBLE_GPUS", "1,3")
    assert visible_gpus() == ["1", "3"]


def _hold(slots, queue):
    os.environ["XLT_GPU_SLOTS"] = slots
    with gpu_slot(poll_s=0.05) as device:
        queue.put((device, os.environ["CUDA_VISIBLE_DEVICES"], time.time()))
        time.sleep(0.5)


def test_concurrent_jobs_get_different_devices_and_a_third_waits(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_VISIBLE_GPUS", "2")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    queue = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=_hold, args=(str(tmp_path), queue)) for _ in range(3)]
    t0 = time.time()
    for p in procs:
        p.start()
    for p in procs:
        p.join(10)
    got = sorted((queue.get() for _ in range(3)), key=lambda r: r[2])
    assert {got[0][0], got[1][0]} == {"0", "1"} and all(d == env for d, env, _ in got)
    assert got[2][2] - t0 >= 0.45  # the third job waited for a free GPU


def test_no_slot_on_cpu_only_machines_or_under_slurm(monkeypatch):
    monkeypatch.setenv("XLT_VISIBLE_GPUS", "0")
    with gpu_slot() as device:
        assert device is None
    monkeypatch.setenv("XLT_VISIBLE_GPUS", "2")
    monkeypatch.setenv("SLURM_JOB_ID", "17")  # SLURM assigns the job's GPU itself
    with gpu_slot() as device:
        assert device is None
