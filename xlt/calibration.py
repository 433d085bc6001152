"""Budget calibration on English dev: which perturbation radius each adversarial variant uses.

`study.calibration` names one intermediate task, a step budget, a seed and a grid of radii per method
(or per variant name). For every variant whose block says `budget: calibrated`, one short run per grid
point trains on that task's English train split and is scored on its English dev split; the radius
with the best dev score wins (ties: the smaller radius, the more conservative choice). The choice and
every grid point's score go to results/calibration/<model>/<variant>.json; the variant's real training
jobs read it (xlt.steps.train.resolve_budget). Nothing non-English is read (strict zero-shot)."""
from __future__ import annotations

from xlt.budgets import RADIUS, radius_norm, with_radius
from xlt.config import canonical, training_config


def settings(config: dict) -> dict | None:
    return config["study"].get("calibration")


def is_calibrated(block: dict) -> bool:
    return block.get("budget", "fixed") == "calibrated"


def calibrated_variants(config: dict) -> list[str]:
    """Study variants (either stage) whose budget comes from calibration."""
    return [v for v in config["study"]["variants"] if is_calibrated(config["variants"].get(v, {}))]


def grid(config: dict, variant: str) -> list[float]:
    """The radii tried for `variant`: grid[<variant name>], else grid[<its method>]; sorted, unique."""
    block, cal = config["variants"][variant], settings(config) or {}
    points = cal.get("grid", {}).get(variant, cal.get("grid", {}).get(block["method"]))
    return sorted({float(p) for p in points or []})


def point_label(radius: float) -> str:
    """A grid point's path segment: the shortest float repr ('0.03', '1e-05')."""
    return f"{radius:g}"


def point_block(config: dict, variant: str, label: str) -> dict:
    """The variant's block at one grid point."""
    return canonical(with_radius(config["variants"][variant], float(label)))


def training(config: dict) -> dict:
    """The calibration task's intermediate training block, cut to the calibration step budget and
    scored on dev once, at the end."""
    cal = settings(config)
    base = training_config(config, "intermediate", cal["task"])
    return canonical({**base, "max_steps": cal["steps"], "eval_every": cal["steps"], "save_every": None})


def choose(scores: dict[float, float]) -> float:
    """The best-scoring radius; ties go to the smaller radius."""
    return min(scores, key=lambda r: (-scores[r], r))


def result(variant: str, block: dict, task: str, metric: str, scores: dict[float, float]) -> dict:
    chosen = choose(scores)
    return {"variant": variant, "method": block["method"], "radius_parameter": RADIUS[block["method"]],
            "norm": radius_norm(block), "scale": block.get("scale", "absolute"), "task": task,
            "selection_metric": metric, "chosen": chosen,
            "grid": [{"radius": r, "dev_score": scores[r]} for r in sorted(scores)],
            "chosen_block": with_radius(block, chosen)}


def cross_checks(config: dict) -> list[str]:
    """Config errors a schema cannot see: calibrated variants need the stage, a grid and a radius."""
    out, cal = [], settings(config)
    for v in calibrated_variants(config):
        block = config["variants"][v]
        if block["method"] not in RADIUS:
            out.append(f"variants.{v}: method {block['method']} has no budget to calibrate; drop budget: calibrated")
            continue
        if cal is None:
            out.append(f"variants.{v}: budget: calibrated needs study.calibration (task, steps, seed, grid)")
            continue
        if not grid(config, v):
            out.append(f"study.calibration.grid: no radii for variant {v!r} (add `{block['method']}: [...]` "
                       f"or `{v}: [...]`)")
        radius = block.get(RADIUS[block["method"]])
        if not radius or radius <= 0:
            out.append(f"variants.{v}.{RADIUS[block['method']]}: a calibrated block needs a positive radius "
                       f"(it fixes the ratio of the tied sizes)")
    return out
