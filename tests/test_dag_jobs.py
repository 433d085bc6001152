"""The DAG's jobs against a snapshot: the demo's, the study's and the pilot's jobs — each one's rule, inputs,
outputs, log and benchmark — as `python -m xlt.workflow.dag` lists them (every job, `--forceall`). A change
to rules/ that should leave the jobs alone (issue 28: one step runner, inputs as dicts, plain log paths)
must keep this green; a change meant to alter the DAG rewrites the snapshots, and its diff is the review:

    .venv/bin/python tests/test_dag_jobs.py     # rewrites tests/data/dag_jobs/*.jsonl.gz
"""
from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pytest

from workflow_runs import dag_jobs

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "data" / "dag_jobs"
CONFIGS = {"demo": ROOT / "config" / "demo.yaml", "study": ROOT / "config.yaml", "pilot": ROOT / "config" / "pilot.yaml"}
KEYS = ("rule", "input", "output", "log", "benchmark")


def job_lines(configfile: Path, workdir: Path) -> list[str]:
    """One sorted JSON line per job of the config's DAG, with KEYS only."""
    return sorted(json.dumps({k: job[k] for k in KEYS}, sort_keys=True) for job in dag_jobs(workdir, configfile))


def snapshot(name: str) -> list[str]:
    with gzip.open(SNAPSHOTS / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_dag_lists_the_jobs_of_the_snapshot(name, study_workdir):
    """`study_workdir`: config.yaml's CCGbank files exist there (config validation checks them)."""
    now, before = job_lines(CONFIGS[name], study_workdir), snapshot(name)
    gone, new = sorted(set(before) - set(now)), sorted(set(now) - set(before))
    if len(now) != len(before) or gone or new:
        pytest.fail(f"{name}: {len(before)} jobs in the snapshot, {len(now)} now; {len(gone)} gone, {len(new)} new:\n"
                    + "\n".join([*(f"- {j[:400]}" for j in gone[:5]), *(f"+ {j[:400]}" for j in new[:5])])
                    + "\nIf the DAG is meant to change: .venv/bin/python tests/test_dag_jobs.py, and check the diff")


def write_snapshots() -> None:
    from xlt.demo.fixtures import write_fixtures

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_fixtures(workdir / "fixtures", seed=0)  # config.yaml's CCGbank export, as tests/conftest.py's study_workdir
        (workdir / "data" / "ccgbank").mkdir(parents=True)
        for split in ("train", "dev"):
            (workdir / "data" / "ccgbank" / f"{split}.tsv").write_text((workdir / "fixtures" / "ccg" / f"{split}.tsv").read_text())
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        for name, configfile in CONFIGS.items():
            lines = job_lines(configfile, workdir)
            with gzip.GzipFile(SNAPSHOTS / f"{name}.jsonl.gz", "wb", mtime=0) as fh:  # mtime 0: same jobs, same bytes
                fh.write("".join(line + "\n" for line in lines).encode("utf-8"))
            print(f"{name}: {len(lines)} jobs -> {SNAPSHOTS / name}.jsonl.gz")


if __name__ == "__main__":
    write_snapshots()
