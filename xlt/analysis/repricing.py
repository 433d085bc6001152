"""A study re-priced at what its pilot measured (xlt/analysis/pilot.py wrote the report):

    python -m xlt.analysis.planning --configfile config.yaml --pilot results/pilot/report.json

sets models.<name>.tokens_per_minute to the pilot's standard-step tokens per minute of that model —
refused, naming the key, when the report measured other models, another max_length or other speed
settings than the config it is asked to re-price."""
from __future__ import annotations

import copy
from pathlib import Path

from xlt.workflow.cluster import OVERHEAD


class PilotMismatch(ValueError):
    """A report that does not measure the config it is applied to."""


def load_report(path: str | Path) -> dict:
    """A pilot's report.json; PilotMismatch when the file is missing or is not one."""
    import json

    path = Path(path)
    if not path.exists():
        raise PilotMismatch(f"{path} does not exist: a pilot writes results/pilot/report.json (make pilot)")
    report = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(report, dict) or not {"identity", "throughput"} <= set(report):
        raise PilotMismatch(f"{path} is not a pilot report (no identity and throughput): pass the "
                            "results/pilot/report.json a pilot wrote (make pilot)")
    return report


def reprice(config: dict, report: dict, where: str = "the report") -> tuple[dict, list[str]]:
    """(the config with each measured model's tokens_per_minute, notes); PilotMismatch when the report
    measured another config (models, max_length or speed settings differ)."""
    from xlt.workflow.config import with_defaults
    from xlt.workflow.pilot import identity

    config = with_defaults(copy.deepcopy(config))  # as the DAG reads it (the pilot's identity has its defaults)
    mine, theirs = identity(config), report["identity"]
    shared = [m for m in mine["models"] if m in theirs["models"]]
    describe = lambda models: ", ".join(f"{m} {s['source']}" for m, s in models.items())  # noqa: E731
    if not shared:
        raise PilotMismatch(f"{where} is the pilot of models {describe(theirs['models'])}, not of this config's "
                            f"{describe(mine['models'])}: it measured none of them. Run this config's own pilot "
                            "(config/pilot.yaml: make pilot) and pass its report.")
    problems = []
    for m in shared:
        if mine["models"][m]["source"] != theirs["models"][m]["source"]:
            problems.append(f"models.{m}: the pilot measured {theirs['models'][m]['source']}, this config reads "
                            f"{mine['models'][m]['source']}")
        for key in sorted(set(mine["models"][m]["training"]) | set(theirs["models"][m]["training"])):
            a, b = theirs["models"][m]["training"].get(key), mine["models"][m]["training"].get(key)
            if a != b:
                problems.append(f"study.models.{m}.training.defaults.{key}: the pilot measured {a!r}, this config has {b!r}")
    if mine["max_length"] != theirs["max_length"]:
        problems.append(f"features.max_length: the pilot measured {theirs['max_length']}, this config has {mine['max_length']}")
    for key in sorted(set(mine["training"]) | set(theirs["training"])):
        a, b = theirs["training"].get(key), mine["training"].get(key)
        if a != b:
            problems.append(f"training.defaults.{key}: the pilot measured {a!r}, this config has {b!r}")
    if problems:
        raise PilotMismatch(f"{where} measured another configuration than this one:\n" +
                            "\n".join(f"  - {p}" for p in problems))
    out = copy.deepcopy(config)
    rates = {t["model"]: t["tokens_per_minute"] for t in report["throughput"] if t["variant"] == "standard"}
    notes = []
    for m in shared:
        if rates.get(m):
            out["models"][m]["tokens_per_minute"] = rates[m]
            notes.append(f"{m}: {rates[m]:,.0f} tokens/min measured by the pilot on {', '.join(report['devices'])} "
                         f"(the config assumed {_assumed(config, m):,.0f})")
        else:
            notes.append(f"{m}: the pilot ran no standard step; its assumed throughput stays")
    notes += [f"{m}: not in the pilot; its assumed throughput stays" for m in mine["models"] if m not in shared]
    notes += [f"{c['model']} {c['variant']}: a step measured {c['measured_cost']:.2f}x standard's time per token "
              f"(the plan assumes {c['assumed_passes']:g})" for c in report["variant_cost"] if c["model"] in shared]
    notes += [f"{o['model']} {o['stage']} jobs: wall time {o['factor']:.2f}x their training steps (the plan assumes {OVERHEAD:g})"
              for o in report["overhead"] if o["model"] in shared and o["factor"] is not None]
    return out, notes


def _assumed(config: dict, model: str) -> float:
    from xlt.workflow.cluster import tokens_per_minute
    from xlt.workflow.designs import view

    return tokens_per_minute(view(config, model))
