"""Warm workers (xlt/workflow/warm.py): a job runs in a child forked from a warm server, in the job's directory and
environment, with its exit status and signals carried across."""
import os
import signal
import subprocess
import sys
import time

import pytest

from xlt.workflow import warm
from xlt.io import read_json

ON = {"execution": {"warm_workers": True}}


def test_enabled_only_where_asked_and_never_under_slurm(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert warm.enabled(ON) and not warm.enabled({})
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert not warm.enabled(ON)


def test_a_step_runs_in_a_warm_child_in_the_jobs_directory_and_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XLT_TEST_MARK", "seen")
    warm.run(ON, "xlt.io", "write_json", {"obj": {"pid": os.getpid()}, "path": "out.json"}, "logs/job.log")
    assert read_json(tmp_path / "out.json") == {"pid": os.getpid()} and (tmp_path / "logs" / "job.log").exists()
    warm.run(ON, "subprocess", "run", {"args": ["sh", "-c", "echo $XLT_TEST_MARK $PPID > env.txt"], "check": True},
             "logs/env.log")
    mark, parent = (tmp_path / "env.txt").read_text().split()
    assert mark == "seen" and int(parent) != os.getpid()  # another process: the warm child


def test_a_failing_step_fails_the_job_with_its_traceback_in_the_log(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"xlt.io.read_json failed \(exit status 1\); see job.log"):
        warm.run(ON, "xlt.io", "read_json", {"path": "missing.json"}, "job.log")
    assert "FileNotFoundError" in (tmp_path / "job.log").read_text()


def test_sigterm_reaches_the_running_step(tmp_path):
    code = ("from xlt.workflow import warm; warm.run({'execution': {'warm_workers': True}}, 'subprocess', 'run', "
            "{'args': ['sleep', '20']}, 'job.log')")
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"}
    client = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "job.log").exists() and time.monotonic() < deadline:  # the child has started
        time.sleep(0.2)
    time.sleep(0.5)
    t0 = time.monotonic()
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=15) != 0 and time.monotonic() - t0 < 10  # the step died, the job failed
    assert "exit status -15" in client.stderr.read()
