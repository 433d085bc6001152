"""Dump the workflow's job DAG as JSON: one record per job with its rule, input (also by input name),
output, log and benchmark files, and whether it runs on the submit host (a local rule) or as a cluster job.

    python -m xlt.workflow.dag [--configfile F] [--directory D] > jobs.json

Used to audit data flow (e.g. the strict zero-shot test) without running anything. Relies on
Snakemake's Python API (9.x); `--forceall` semantics, so every job of the study is listed."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def jobs(snakefile: Path, configfile: Path | None, workdir: Path) -> list[dict]:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, Quietness, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[configfile] if configfile else []),
            snakefile=snakefile, workdir=workdir)
        workflow = workflow_api.dag(DAGSettings(forceall=True)).workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        workflow._build_dag()
        return [{"rule": job.rule.name, "input": sorted(map(str, job.input)), "output": sorted(map(str, job.output)),
                 "named_input": {name: sorted(map(str, [files] if isinstance(files, str) else files))
                                 for name, files in job.input.items()},
                 "log": sorted(map(str, job.log)), "benchmark": str(job.benchmark) if job.benchmark else None,
                 # a local rule (or one that runs nothing): on the submit host under a cluster executor
                 "local": job.rule.name in workflow._localrules or bool(job.rule.norun)}
                for job in workflow.dag.jobs]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    p.add_argument("--configfile", type=Path)
    p.add_argument("--directory", type=Path, default=Path.cwd())
    args = p.parse_args(argv)
    json.dump(jobs(args.snakefile.resolve(), args.configfile and args.configfile.resolve(), args.directory.resolve()),
              sys.stdout, indent=1)


if __name__ == "__main__":
    main()
