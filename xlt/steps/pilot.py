"""Step of rules/pilot.smk: the pilot report."""
from __future__ import annotations


class PilotCheckFailed(RuntimeError):
    """A declared learning check (pilot.checks) failed."""


def pilot_report(jobs: list[dict], checks: dict, identity: dict, passes: dict, overhead: float, json: str,
                 md: str) -> None:
    """results/pilot/report.json and .md (xlt/analysis/pilot.py); printed to the job's log too, so what was
    measured survives a failed check — which fails the job, naming the check, its threshold and the runs
    below it."""
    from pathlib import Path

    from xlt.analysis.pilot import build_report, failures, format_markdown
    from xlt.io import atomic_path, write_json

    report = build_report(jobs, checks, identity, passes, overhead)
    text = format_markdown(report)
    print(text, flush=True)
    failed = failures(report)
    if failed:
        raise PilotCheckFailed("pilot check failed — the study's settings did not learn on English dev:\n"
                               + "\n".join(f"  - {f}" for f in failed))
    write_json(report, json)
    with atomic_path(md) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
