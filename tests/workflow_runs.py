"""How the tests run the workflow: Snakemake on this checkout's Snakefile (offline: HF_HUB_OFFLINE=1), and
the DAG's job list from `python -m xlt.workflow.dag` without running anything."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def snakemake(workdir, *args, configfile=ROOT / "config" / "demo.yaml", check=True, snakefile=None):
    """`snakemake -d workdir --configfile configfile *args` (a failure raises, with the output's tail)."""
    cmd = [*(SNAKEMAKE if snakefile is None else [sys.executable, "-m", "snakemake", "-s", str(snakefile)]),
           "-d", str(workdir), "--configfile", str(configfile), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    return proc


def dag_jobs(workdir, configfile) -> list[dict]:
    """Every job of the DAG (rule, input, output, log, benchmark), from xlt.workflow.dag without running anything."""
    proc = subprocess.run([sys.executable, "-m", "xlt.workflow.dag", "--configfile", str(configfile), "--directory",
                           str(workdir)], capture_output=True, text=True, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)
