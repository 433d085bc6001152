"""Where a running (or finished) study stands, from its results/ folder alone — no Snakemake, no scheduler:

    python -m xlt.analysis.status [--configfile config.yaml] [--directory .]

prints per model, stage and rule the jobs done, running, failed and waiting (and those a look made
unnecessary); the GPU-hours spent (each GPU job's wall time, results/benchmarks/) against what the plan
priced for the same jobs and for all of them; every interim look and what it decided; what is left; the
failed jobs with their logs' last error line and the running ones with their logs' age.

A job is done when its outputs exist (a target run: its dev metrics and every language's evaluation);
failed when its log (results/logs/, rewritten by each attempt) ends in a traceback — a preempted run too,
until its retry starts; running when its log exists otherwise (a job writes it from its start; a job
killed without a word — SIGKILL, a node lost — looks running until its log grows old: see its age);
waiting when it has no log. Jobs of a wave after the first wait for their look; once a look has decided
every family, the later waves' jobs are `not needed`."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from xlt.analysis.planning import _table, load_checked, training_jobs as priced
from xlt.analysis.sequential import final_look
from xlt.io import read_json
from xlt.workflow import jobs as design_jobs, plan
from xlt.workflow.designs import model_names
from xlt.workflow.jobs import wall_seconds

STATES = ("done", "running", "failed", "waiting", "not needed")
STAGE_ORDER = ("data", "selection", "calibration", "intermediate", "target", "report")
TRACEBACK = "Traceback (most recent call last)"


def looks(config: dict, directory: Path) -> dict[str, list[dict]]:
    """{model: the interim looks written so far, in order}."""
    out = {}
    for m, waves in plan.model_waves(config).items():
        out[m] = []
        for k in range(1, len(waves)):
            path = directory / plan.interim_file(m, k)
            if not path.exists():
                break
            out[m].append(read_json(path))
    return out


def job_state(job: dict, directory: Path, made: dict[str, list[dict]], config: dict) -> str:
    if all((directory / p).exists() for p in job["outputs"]):
        return "done"
    if not needed(job, made, config):
        return "not needed"
    log = directory / job["log"]
    if not log.exists():
        return "waiting"
    return "failed" if TRACEBACK in _tail(log) else "running"


def needed(job: dict, made: dict[str, list[dict]], config: dict) -> bool:
    """False once the looks made say the design will not train `job` (as the DAG decides: plan.run_needed):
    a wave after the look that decided every family, or an arm no family left open needs."""
    if job["wave"] <= 1:
        return True
    waves, looks_made = plan.model_waves(config)[job["model"]], made[job["model"]]
    if final_look(looks_made, len(waves)) < job["wave"]:
        return False
    if "design_run" not in job or len(looks_made) < job["wave"] - 1:
        return True  # its look is not made yet
    open_after = lambda k: [f["family"] for f in looks_made[k - 1]["families"] if not f["decided"]]  # noqa: E731
    return plan.run_needed(job["design_run"], waves, open_after, config["study"]["targets"])


def _tail(path: Path, size: int = 20000) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - size))
        return fh.read().decode("utf-8", errors="replace")


def last_error(path: Path) -> str:
    """The last line of the traceback in a log (the exception and its message)."""
    lines = [line for line in _tail(path).splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def collect(config: dict, directory: Path) -> dict:
    """Every job of the design with its state, wall hours (GPU jobs) and planned hours (training jobs)."""
    made = looks(config, directory)
    planned = {(j["stage"], j["run"]): j["minutes"] / 60 for j in priced(config, directory)}
    records = []
    for job in [*design_jobs.training_jobs(config), *design_jobs.other_jobs(config)]:
        state = job_state(job, directory, made, config)
        gpu = job["rule"] in design_jobs.GPU_RULES
        records.append({**job, "state": state, "gpu": gpu,
                        "spent": (wall_seconds(directory / job["benchmark"]) or 0) / 3600 if gpu and state == "done" else None,
                        "planned": planned.get((job["stage"], job["run"])) if gpu else None})
    return {"jobs": records, "looks": made}


def _rule(job: dict) -> str:
    return f"train_target_{job['target']}" if job["rule"] == "train_target" else job["rule"]


def _h(hours: float) -> str:
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"


def _ratio(spent: float, planned: float) -> str:
    return "-" if not planned else f"{spent / planned:,.2f}" if spent / planned < 1000 else f"{spent / planned:,.0f}"


def format_status(config: dict, directory: Path, name: str = "config", now: float | None = None,
                  listed: int = 10) -> str:
    status = collect(config, directory)
    jobs, now = status["jobs"], now or time.time()
    lines = [f"Status of {name} in {directory.resolve()}/results (read {time.strftime('%Y-%m-%d %H:%M', time.localtime(now))}):", ""]

    # per model, stage and rule
    groups: dict[tuple, dict] = {}
    for j in jobs:
        key = (j["model"] or "-", j["stage"], _rule(j))
        groups.setdefault(key, dict.fromkeys(STATES, 0))[j["state"]] += 1
    order = lambda k: (STAGE_ORDER.index(k[1]), k[0], k[2])  # noqa: E731
    rows = [[k[1], k[0], k[2], *(groups[k][s] for s in STATES), sum(groups[k].values())] for k in sorted(groups, key=order)]
    total = {s: sum(g[s] for g in groups.values()) for s in STATES}
    rows.append(["", "", "total", *total.values(), sum(total.values())])
    lines += ["Jobs (done: outputs exist; running / failed: their log; waiting: not started; not needed: "
              "a wave after the look that decided):"]
    lines += _table(["stage", "model", "rule", *STATES, "of"], rows, "lll" + "r" * (len(STATES) + 1))

    # GPU-hours against the plan
    lines += ["", "GPU-hours (one GPU per job: wall time of the finished GPU jobs, results/benchmarks/) against the "
                  "plan (python -m xlt.analysis.planning; not-needed jobs left out):"]
    rows = []
    for m in model_names(config):
        for stage in ("selection", "calibration", "intermediate", "target"):
            mine = [j for j in jobs if j["gpu"] and j["model"] == m and j["stage"] == stage and j["state"] != "not needed"]
            if not mine:
                continue
            done = [j for j in mine if j["state"] == "done"]
            spent = sum(j["spent"] or 0 for j in done)
            planned_done = sum(j["planned"] or 0 for j in done)
            left = sum(j["planned"] or 0 for j in mine if j["state"] != "done")
            rows.append([m, stage, f"{len(done)}/{len(mine)}", _h(spent), _h(planned_done),
                         _ratio(spent, planned_done), _h(left),
                         _h(sum(j["planned"] or 0 for j in mine))])
    gpu = [j for j in jobs if j["gpu"] and j["state"] != "not needed"]
    spent = sum(j["spent"] or 0 for j in gpu if j["state"] == "done")
    planned_done = sum(j["planned"] or 0 for j in gpu if j["state"] == "done")
    left = sum(j["planned"] or 0 for j in gpu if j["state"] != "done")
    rows.append(["", "total", f"{sum(j['state'] == 'done' for j in gpu)}/{len(gpu)}", _h(spent), _h(planned_done),
                 _ratio(spent, planned_done), _h(left), _h(planned_done + left)])
    lines += _table(["model", "stage", "jobs done", "spent", "planned for them", "spent/planned", "planned left",
                     "planned in all"], rows, "llrrrrrr")
    budget = config["study"].get("budget_gpu_hours")
    if budget:
        lines += [f"study.budget_gpu_hours = {budget:,}: {_h(spent)} spent, {_h(max(0.0, budget - spent))} of it left"]

    # the interim looks
    lines += ["", "Interim looks (results/interim/):"]
    for m, waves in plan.model_waves(config).items():
        if len(waves) == 1:
            lines += [f"  {m}: one wave of {len(waves[0])} seed{'s' * (len(waves[0]) > 1)}, no look"]
            continue
        made = status["looks"][m]
        for look in made:
            families = ", ".join(f"{f['family']} {'decided' if f['decided'] else 'open'}" for f in look["families"])
            verdicts = {}
            for f in look["families"]:
                for t in f.get("tests", []):
                    verdicts[t["verdict"]] = verdicts.get(t["verdict"], 0) + 1
            then = (f"wave {look['wave'] + 1} runs" if look["continue"] else
                    f"stop: waves {look['wave'] + 1}-{len(waves)} are not trained")
            lines += [f"  {m}, look {look['wave']} of {len(waves) - 1} (after wave {look['wave']}: {look['seeds']} of "
                      f"{look['max_seeds']} seeds, level {look['level']:.4g}): {families}; tests "
                      + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())) + f" -> {then}"]
        if final_look(made, len(waves)) == len(waves) and len(made) < len(waves) - 1:
            lines += [f"  {m}, look {len(made) + 1} of {len(waves) - 1}: after wave {len(made) + 1} is done"]

    # what is left
    left_jobs = [j for j in jobs if j["state"] in ("running", "failed", "waiting")]
    by_stage = {}
    for j in left_jobs:
        by_stage[j["stage"]] = by_stage.get(j["stage"], 0) + 1
    lines += ["", "Left: " + (", ".join(f"{by_stage[s]} {s}" for s in STAGE_ORDER if s in by_stage) +
                              f" jobs; {_h(left)} GPU-hours as planned" if left_jobs else "nothing: the study is complete")]
    if left_jobs and planned_done and spent:
        lines[-1] += f", ~{_h(left * spent / planned_done)} at the rate spent so far ({_ratio(spent, planned_done)}x the plan)"
    failed = [j for j in jobs if j["state"] == "failed"]
    if failed:
        lines += [f"Failed ({len(failed)}; a retry or the next snakemake run starts them again):"]
        lines += [f"  {_rule(j)} {j['run']}: {last_error(directory / j['log'])} ({j['log']})" for j in failed[:listed]]
        lines += [f"  ... and {len(failed) - listed} more"] if len(failed) > listed else []
    running = [j for j in jobs if j["state"] == "running"]
    if running:
        lines += [f"Running ({len(running)}; the age of each log's last write — a job killed without a word looks "
                  "running until it is old):"]
        age = lambda j: now - (directory / j["log"]).stat().st_mtime  # noqa: E731
        lines += [f"  {_rule(j)} {j['run']}: log written {age(j) / 60:.0f} min ago" for j in running[:listed]]
        lines += [f"  ... and {len(running) - listed} more"] if len(running) > listed else []
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m xlt.analysis.status",
                                description="Where a study stands, read from its results/ folder alone.")
    p.add_argument("--configfile", type=Path, default=Path(__file__).resolve().parents[2] / "config.yaml")
    p.add_argument("--directory", type=Path, default=Path("."), help="the workflow's working directory")
    args = p.parse_args(argv)
    from xlt.workflow.config import ConfigError

    try:
        config, _ = load_checked(args.configfile, args.directory)  # a missing local file (CCGbank) is fine here
    except ConfigError as err:
        sys.exit(str(err))
    if not (args.directory / "results").is_dir():
        sys.exit(f"{args.directory.resolve()} has no results/ folder: pass the workflow's working directory (--directory)")
    print(format_status(config, args.directory, str(args.configfile)))


if __name__ == "__main__":
    main()
