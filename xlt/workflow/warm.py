"""Warm workers: local jobs run in a child forked from a process that has already imported torch,
transformers, pandas and the xlt step modules, instead of paying that start-up (~4 s) in every job.

Most of a demo job's time is `import torch, transformers`; a study job trains for hours and does not care.
So where `execution.warm_workers` is on (the demo) and the job runs locally (not under SLURM), the step
runner (workflow_scripts/step.py, xlt/workflow/runner.py) sends the job's step — module, function, keyword
arguments, log, threads, GPU need — to a warm server over a Unix socket; the server forks, and the child runs
the step exactly as the runner would have (log redirection, GPU slot, thread count), in the job's working
directory and environment. The runner waits for the child's exit status and forwards SIGTERM/SIGINT to it
(preemption keeps working).

One server per (Python, xlt sources, environment) — a code edit or another HF_*/XLT_* environment gets a
fresh server, so nothing stale is ever served; a server exits after IDLE_S seconds without work. The
server itself never runs a torch op or touches CUDA, so forking it is safe."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import inspect
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

IDLE_S = float(os.environ.get("XLT_WARM_IDLE_S", 300))  # seconds a server waits for work before exiting
PRELOAD = ["torch", "pandas", "pyarrow.parquet", "safetensors.torch", "tokenizers", "transformers",
           "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto",
           "transformers.models.bloom.modeling_bloom", "scipy.stats", "statsmodels.stats.multitest",
           "xlt.steps.data", "xlt.steps.train", "xlt.steps.evaluate", "xlt.steps.target", "xlt.steps.report", "xlt.steps.calibration",
           "xlt.model.modeling", "xlt.train.loop", "xlt.model.attention", "xlt.model.formats.classification", "xlt.model.formats.span_qa",
           "xlt.model.formats.multiple_choice", "xlt.model.formats.tagging", "xlt.demo.fixtures", "xlt.demo.tiny_model",
           "xlt.data.sources", "xlt.analysis.matrix", "xlt.analysis.report", "xlt.analysis.comparisons", "xlt.analysis.stats", "xlt.analysis.figures", "xlt.analysis.curves"]
ENV_KEYS = ("HF_", "XLT_", "TRANSFORMERS_", "TOKENIZERS_", "PYTHON", "CUDA_", "OMP_", "MKL_")


def enabled(config: dict) -> bool:
    """On when the config asks for it, for local jobs only (SLURM jobs start their own interpreters)."""
    return bool(config.get("execution", {}).get("warm_workers")) and not os.environ.get("SLURM_JOB_ID")


def _key() -> str:
    from xlt.workflow.fingerprint import digest

    root = Path(__file__).resolve().parents[2]
    code = digest(sorted((root / "xlt").rglob("*.py")), root)
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_KEYS))
    return hashlib.sha256(json.dumps([sys.executable, code, env]).encode()).hexdigest()[:16]


def _socket_path(key: str) -> Path:
    return Path(tempfile.gettempdir()) / f"xlt-warm-{os.getuid()}-{key}.sock"


def _send(conn: socket.socket, obj) -> None:
    data = json.dumps(obj).encode()
    conn.sendall(struct.pack("!I", len(data)) + data)


def _recv(conn: socket.socket):
    head = b""
    while len(head) < 4:
        chunk = conn.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    size, = struct.unpack("!I", head)
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


# ------------------------------------------------------------------ what a job runs (child or in-process)

def execute(module: str, function: str, kwargs: dict, log: str, threads: int | None, gpu: bool,
            optional: dict | None = None) -> None:
    """Run xlt step `module.function(**kwargs)` with the job's log, (if given) torch thread count and (if
    gpu) GPU slot; of `optional`, the names the function has a parameter for (and `kwargs` does not hold)
    are passed too (xlt/workflow/runner.py: a job's wildcards, code, config, tmpdir). Only steps that run
    models pass `threads`: the others never import torch."""
    from xlt.workflow.gpus import gpu_slot
    from xlt.workflow.runlog import logging_to

    with logging_to(log), (gpu_slot() if gpu else contextlib.nullcontext()):
        if threads is not None:
            import torch

            torch.set_num_threads(max(1, int(threads)))
        step = getattr(importlib.import_module(module), function)
        kwargs = {**kwargs, **asked_for(step, optional or {}, kwargs)}
        try:
            inspect.signature(step).bind(**kwargs)
        except TypeError as err:  # a rule and its step that disagree on a name: say which, before running
            raise TypeError(f"{module}:{function}: {err} (a step takes its rule's input, output and params names: "
                            "xlt/workflow/runner.py)") from None
        step(**kwargs)


def asked_for(function, optional: dict, given: dict) -> dict:
    """The entries of `optional` that `function` names as a parameter and `given` does not hold."""
    named = {n for n, p in inspect.signature(function).parameters.items()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return {k: v for k, v in optional.items() if k in named and k not in given}


def run(config: dict, module: str, function: str, kwargs: dict, log: str, threads: int | None = None,
        gpu: bool = False, optional: dict | None = None) -> None:
    """A job's step: in a warm child where enabled, else in this process."""
    if not enabled(config):
        execute(module, function, kwargs, log, threads, gpu, optional)
        return
    try:
        status = _call_server({"cwd": os.getcwd(), "env": dict(os.environ), "module": module, "function": function,
                               "kwargs": kwargs, "optional": optional, "log": log, "threads": threads, "gpu": gpu})
    except OSError as err:  # no server could be reached or started: run here, as without warm workers
        print(f"xlt.workflow.warm: no warm server ({err}); running in this process", file=sys.stderr)
        execute(module, function, kwargs, log, threads, gpu, optional)
        return
    if status != 0:
        raise SystemExit(f"{module}.{function} failed (exit status {status}); see {log}")


def _call_server(request: dict) -> int:
    path = _socket_path(_key())
    conn = _connect(path)
    with conn:
        _send(conn, request)
        reply = _recv(conn)
        if reply is None:
            raise OSError("the warm server closed the connection")
        pid = reply["pid"]
        forward = lambda signum, frame: os.kill(pid, signum)  # noqa: E731 — preemption reaches the child
        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            reply = _recv(conn)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if reply is None:
        raise SystemExit("the warm server died while the job ran")
    return int(reply["status"])


def _connect(path: Path, timeout: float = 60.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    started = False
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
            return conn
        except OSError:
            conn.close()
        if not started:
            _start_server(path)
            started = True
        if time.monotonic() > deadline:
            raise OSError(f"no warm server at {path} after {timeout:.0f} s")
        time.sleep(0.1)


def _start_server(path: Path) -> None:
    """Start a server for this key unless another client is doing so (a lock file decides)."""
    lock = open(f"{path}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return  # someone else is starting it: wait for the socket
    subprocess.Popen([sys.executable, "-m", "xlt.workflow.warm", "serve", str(path)], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     pass_fds=(lock.fileno(),), env={**os.environ, "XLT_WARM_LOCK_FD": str(lock.fileno())})
    lock.close()  # the server holds the lock (inherited descriptor) while it lives


# ------------------------------------------------------------------ the server

def serve(path: Path) -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    import matplotlib

    matplotlib.use("Agg")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    listener.settimeout(5.0)
    running, last = set(), time.monotonic()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                running = {t for t in running if t.is_alive()}
                if not running and time.monotonic() - last > IDLE_S:
                    return
                continue
            conn.settimeout(None)
            request = _recv(conn)
            if request is None:
                conn.close()
                continue
            pid = os.fork()  # from the main thread; the waiter threads only sit in waitpid
            if pid == 0:
                listener.close()
                conn.close()
                _child(request)
            _send(conn, {"pid": pid})
            waiter = threading.Thread(target=_wait, args=(conn, pid), daemon=True)
            waiter.start()
            running.add(waiter)
            last = time.monotonic()
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _child(request: dict) -> None:
    """The job, in the forked child: its directory and environment, then the step; never returns."""
    status = 1
    try:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        execute(request["module"], request["function"], request["kwargs"], request["log"],
                request["threads"], request["gpu"], request.get("optional"))
        status = 0
    except BaseException:  # noqa: BLE001 — the traceback is in the job log (logging_to)
        status = 1
    finally:
        os._exit(status)


def _wait(conn: socket.socket, pid: int) -> None:
    with conn:
        _, raw = os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            _send(conn, {"status": os.waitstatus_to_exitcode(raw)})


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(Path(argv[1]))


if __name__ == "__main__":
    main()
