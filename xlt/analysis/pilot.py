"""The pilot report (results/pilot/report.json + .md) and the study re-priced with what it measured.

From every training job of the pilot (xlt.workflow.pilot.training_jobs): the tokens its steps trained on,
the time they took and its peak GPU memory (dev_metrics.json `resources`, xlt/train/measure.py), its wall
time (the Snakemake benchmark file). Reported per model and step variant: tokens per minute, the measured
cost of each adversarial variant against standard on the same tasks (the plan assumes its passes), the job
overhead (wall time / training-step time; the plan assumes 1.5), peak GPU memory ("not measured (no GPU)"
where none was used). Then the declared learning checks: every target run's English-dev score against
pilot.checks; the report job fails naming each check that failed. Re-pricing a study with the report:
xlt/analysis/repricing.py."""
from __future__ import annotations

from pathlib import Path

NOT_MEASURED = "not measured (no GPU)"


def job_rows(jobs: list[dict], directory: Path = Path(".")) -> list[dict]:
    """One row per training job: its identity, what it measured and its English-dev record."""
    from xlt.io import read_json
    from xlt.workflow.jobs import wall_seconds

    rows = []
    for job in jobs:
        record = read_json(directory / job["metrics"])
        if "resources" not in record:
            raise ValueError(f"{job['metrics']} has no `resources` (written before runs recorded their cost): "
                             "re-run that job")
        used = record["resources"]
        rows.append({**{k: v for k, v in job.items() if k not in ("metrics", "benchmark")},
                     "tokens": used["tokens"], "seconds": used["seconds"], "steps": used["steps"],
                     "device": used["device"], "peak_gpu_memory_bytes": used["peak_gpu_memory_bytes"],
                     "wall_s": wall_seconds(directory / job["benchmark"]),
                     "dev": record["metrics"], "chance": record.get("chance", {})})
    return rows


def _rate(rows: list[dict]) -> float | None:
    seconds = sum(r["seconds"] for r in rows)
    return 60 * sum(r["tokens"] for r in rows) / seconds if seconds > 0 else None


def _groups(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] if k != "tasks" else "+".join(r[k]) for k in keys), []).append(r)
    return out


def throughput(rows: list[dict], passes: dict[str, float]) -> list[dict]:
    """Per model and step variant: jobs, tokens, step seconds, tokens per minute (token-weighted over its
    jobs), the passes per step the plan assumes, and the standard-step rate that implies."""
    out = []
    for (model, variant), group in _groups(rows, ("model", "variant")).items():
        rate = _rate(group)
        out.append({"model": model, "variant": variant, "jobs": len(group), "tokens": sum(r["tokens"] for r in group),
                    "seconds": round(sum(r["seconds"] for r in group), 3), "tokens_per_minute": rate,
                    "assumed_passes": passes[variant], "standard_equivalent": rate * passes[variant] if rate else None})
    return out


def by_task(rows: list[dict]) -> list[dict]:
    """Per model, step variant and task(s): tokens per minute (sequence lengths differ by task)."""
    return [{"model": m, "variant": v, "tasks": t, "jobs": len(g), "tokens_per_minute": _rate(g)}
            for (m, v, t), g in _groups(rows, ("model", "variant", "tasks")).items()]


def variant_cost(rows: list[dict], passes: dict[str, float]) -> list[dict]:
    """Per model and adversarial variant: standard's tokens per minute / the variant's, on the tasks both
    trained (each task's ratio weighted by the variant's tokens) — what a step costs against the plan's
    assumed passes."""
    out = []
    tasks = _groups(rows, ("model", "variant", "tasks"))
    for model, variant in {(m, v) for m, v, _ in tasks if v != "standard"}:
        pairs = [(tasks[(model, "standard", t)], g) for (m, v, t), g in tasks.items()
                 if (m, v) == (model, variant) and (model, "standard", t) in tasks]
        weighted = [(_rate(std) / _rate(adv), sum(r["tokens"] for r in adv)) for std, adv in pairs
                    if _rate(std) and _rate(adv)]
        if weighted:
            total = sum(w for _, w in weighted)
            out.append({"model": model, "variant": variant, "measured_cost": sum(c * w for c, w in weighted) / total,
                        "assumed_passes": passes[variant], "tasks": sorted("+".join(std[0]["tasks"]) for std, _ in pairs)})
    return sorted(out, key=lambda r: (r["model"], r["variant"]))


def overhead(rows: list[dict]) -> list[dict]:
    """Per model and stage: job wall time (benchmark) / its training steps' time, over the jobs with both."""
    out = []
    for (model, stage), group in _groups(rows, ("model", "stage")).items():
        timed = [r for r in group if r["wall_s"] is not None and r["seconds"] > 0]
        out.append({"model": model, "stage": stage, "jobs": len(timed),
                    "factor": sum(r["wall_s"] for r in timed) / sum(r["seconds"] for r in timed) if timed else None})
    return out


def memory(rows: list[dict]) -> list[dict]:
    """Per model and step variant: the largest peak GPU memory of its jobs (None: no job had a GPU)."""
    out = []
    for (model, variant), group in _groups(rows, ("model", "variant")).items():
        peaks = [r["peak_gpu_memory_bytes"] for r in group if r["peak_gpu_memory_bytes"] is not None]
        out.append({"model": model, "variant": variant, "jobs": len(group), "peak_gpu_memory_bytes": max(peaks) if peaks else None,
                    "devices": sorted({r["device"] for r in group})})
    return out


def learning_checks(rows: list[dict], checks: dict[str, dict]) -> list[dict]:
    """Each declared check against every target run of its target: {target, metric, min, runs, failed}."""
    out = []
    for target, check in checks.items():
        runs = [{"run": r["run"], "value": r["dev"][target][check["metric"]],
                 "chance_points": (r["chance"].get(target) or {}).get("value")}
                for r in rows if r["stage"] == "target" and r.get("target") == target]
        failed = [run for run in runs if run["value"] < check["min"]]
        out.append({"target": target, **check, "runs": runs, "failed": failed, "passed": bool(runs) and not failed})
    return out


def build_report(jobs: list[dict], checks: dict[str, dict], identity: dict, passes: dict[str, float],
                 overhead_assumed: float, directory: Path = Path(".")) -> dict:
    """`passes` and `overhead_assumed`: what the plan assumes (expected_cost, cluster.OVERHEAD), passed by the rule."""
    rows = job_rows(jobs, directory)
    checked = learning_checks(rows, checks)
    return {"identity": identity, "devices": sorted({r["device"] for r in rows}),
            "throughput": throughput(rows, passes), "by_task": by_task(rows), "variant_cost": variant_cost(rows, passes),
            "overhead": overhead(rows), "overhead_assumed": overhead_assumed, "memory": memory(rows), "checks": checked,
            "passed": all(c["passed"] for c in checked),
            "jobs": [{k: v for k, v in r.items() if k not in ("dev", "chance")} for r in rows]}


def failures(report: dict) -> list[str]:
    """One line per failed check, naming the check, its threshold and the runs below it."""
    out = []
    for c in report["checks"]:
        if c["passed"]:
            continue
        if not c["runs"]:
            out.append(f"pilot.checks.{c['target']}: no target run of {c['target']} to check")
            continue
        below = ", ".join(f"{r['run']} {r['value']:.4g}" for r in c["failed"])
        out.append(f"pilot.checks.{c['target']} ({c['metric']} >= {c['min']:g} on English dev) failed: {below}")
    return out


def _gb(n: int | None) -> str:
    return NOT_MEASURED if n is None else f"{n / 2**30:.1f} GiB"


def _tpm(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def format_markdown(report: dict) -> str:
    lines = ["# Pilot report", "", f"Devices: {', '.join(report['devices'])}.", "",
             "## Throughput (training steps only: dev evaluation and saving excluded)", "",
             "| model | variant | jobs | tokens | step time (s) | tokens/min | passes assumed | standard-equivalent tokens/min |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {t['model']} | {t['variant']} | {t['jobs']} | {t['tokens']:,} | {t['seconds']:,.1f} | "
              f"{_tpm(t['tokens_per_minute'])} | {t['assumed_passes']:g} | {_tpm(t['standard_equivalent'])} |"
              for t in report["throughput"]]
    lines += ["", "Per task:", "", "| model | variant | tasks | jobs | tokens/min |", "|---|---|---|---|---|"]
    lines += [f"| {t['model']} | {t['variant']} | {t['tasks']} | {t['jobs']} | {_tpm(t['tokens_per_minute'])} |"
              for t in report["by_task"]]
    if report["variant_cost"]:
        lines += ["", "## Cost of a step against standard, on the same tasks", "",
                  "| model | variant | measured | passes assumed by the plan | tasks |", "|---|---|---|---|---|"]
        lines += [f"| {c['model']} | {c['variant']} | {c['measured_cost']:.2f} | {c['assumed_passes']:g} | "
                  f"{', '.join(c['tasks'])} |" for c in report["variant_cost"]]
    lines += ["", f"## Job overhead (wall time / training-step time; the plan assumes {report['overhead_assumed']:g})", "",
              "| model | stage | jobs timed | factor |", "|---|---|---|---|"]
    lines += [f"| {o['model']} | {o['stage']} | {o['jobs']} | {'-' if o['factor'] is None else format(o['factor'], '.2f')} |"
              for o in report["overhead"]]
    lines += ["", "## Peak GPU memory (largest over the jobs)", "", "| model | variant | jobs | peak |", "|---|---|---|---|"]
    lines += [f"| {m['model']} | {m['variant']} | {m['jobs']} | {_gb(m['peak_gpu_memory_bytes'])} |"
              for m in report["memory"]]
    lines += ["", "## Learning checks (English dev, every target run)", ""]
    for c in report["checks"]:
        values = [r["value"] for r in c["runs"]]
        span = f"{min(values):.4g}–{max(values):.4g}" if values else "no runs"
        chance = sorted({r["chance_points"] for r in c["runs"] if r["chance_points"] is not None})
        lines += [f"- {'PASSED' if c['passed'] else 'FAILED'}: {c['target']} {c['metric']} >= {c['min']:g} "
                  f"({len(values)} runs: {span}; chance {', '.join(f'{x:.1f}' for x in chance) or '-'} points)"]
        lines += [f"  - below: {r['run']} {r['value']:.4g}" for r in c["failed"]]
    return "\n".join(lines) + "\n"
