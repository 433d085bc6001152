"""Budget calibration on English dev: which perturbation radius each adversarial variant uses.

`study.calibration` names one intermediate task, a horizon (a `fraction` of that task's real schedule,
or `steps`), a number of `seeds` and a grid of radii per method (or per variant name). For every variant
whose block says `budget: calibrated`, one short run per grid radius and seed trains on that task's
English train split and is scored once, at its end, on its English dev split (xlt/workflow/selection.py).

The control: with `control: true` (the default) every grid holds radius 0 — the method's passes and
losses with a zero perturbation. The choice rule, per variant:
  1. per radius, the mean dev score over seeds and its standard error;
  2. the best mean over the nonzero radii (ties: the smaller radius);
  3. it is kept only if it beats radius 0 by more than the standard error of that difference (seeds
     paired: seed s at radius r and at 0 share the head's initialisation and the batch order, so the
     difference's SE is the SD of the per-seed differences / sqrt(n));
  4. otherwise the variant has **no effective radius**: its training jobs run at radius 0, the control
     (the honest reading — no size was shown to do better than none), and the result says so.
With `control: false`, the best mean wins (ties: the smaller radius). The choice, every grid point's
mean +- SE and the comparison with radius 0 go to results/calibration/<model>/<variant>.json; the
variant's training jobs read it (xlt.steps.train.resolve_budget). Nothing non-English is read."""
from __future__ import annotations

from xlt.adversarial.budgets import RADIUS, is_calibrated, radius_norm, with_radius
from xlt.workflow.config import canonical, training_config
from xlt.workflow.designs import views
from xlt.workflow.selection import (COLLAPSE_MARGIN, best, horizon, horizon_checks, horizon_label, paired_difference,
                           point_summary, seeds)


def settings(config: dict) -> dict | None:
    return config["study"].get("calibration")


def selection_stage_jobs(config: dict) -> dict[str, list[dict]]:
    """Every job of the English-dev stages, per rule, as the rules make them (a cost or plan command counts
    these): calibrate_point {model, variant, point, seed}, calibrate {model, variant}, select_point
    {model, stage, task, point, seed}, select {model, stage, task}."""
    from xlt.workflow import selection

    return {"calibrate_point": point_runs(config), "calibrate": result_runs(config),
            "select_point": selection.point_runs(config), "select": selection.result_runs(config)}


def has_control(config: dict) -> bool:
    return bool((settings(config) or {}).get("control", True))


def calibrated_variants(config: dict) -> list[str]:
    """Study variants (either stage; of any model's design) whose budget comes from calibration."""
    variants = dict.fromkeys(v for view in views(config) for v in view["study"]["variants"])
    return [v for v in variants if is_calibrated(config["variants"].get(v, {}))]


def grid_key(config: dict, variant: str) -> str | None:
    """Which grid entry a variant uses: its own name, else its method."""
    g, method = (settings(config) or {}).get("grid", {}), config["variants"][variant]["method"]
    return variant if variant in g else method if method in g else None


def grid(config: dict, variant: str) -> list[float]:
    """The radii tried for `variant`: grid[<variant name>], else grid[<its method>]; sorted, unique."""
    key = grid_key(config, variant)
    return sorted({float(p) for p in settings(config)["grid"][key]}) if key else []


def point_label(radius: float) -> str:
    """A grid point's path segment: the shortest float repr ('0.03', '1e-05', '0')."""
    return f"{radius:g}"


def point_block(config: dict, variant: str, label: str) -> dict:
    """The variant's block at one grid point."""
    return canonical(with_radius(config["variants"][variant], float(label)))


def training(config: dict) -> dict:
    """The calibration task's intermediate training block, cut to the calibration horizon."""
    cal = settings(config)
    return horizon(training_config(config, "intermediate", cal["task"]), cal)


def variant_settings(config: dict, variant: str) -> dict:
    """The slice of study.calibration one variant's choice depends on (its own grid only: editing another
    method's grid must not rewrite this variant's result and re-run its training)."""
    cal = settings(config)
    return canonical({**{k: v for k, v in cal.items() if k != "grid"}, "grid": grid(config, variant)})


def point_runs(config: dict) -> list[dict]:
    """Every calibration run the rules make: {model, variant, point, seed} (rule calibrate_point)."""
    if not settings(config):
        return []
    return [dict(model=m, variant=v, point=point_label(r), seed=s) for view in views(config)
            for m in view["study"]["models"] for v in calibrated_variants(view) for r in grid(config, v)
            for s in seeds(settings(config))]


def result_runs(config: dict) -> list[dict]:
    """Every calibration result (rule calibrate): {model, variant}."""
    if not settings(config):
        return []
    return [dict(model=m, variant=v) for view in views(config) for m in view["study"]["models"]
            for v in calibrated_variants(view)]


def result_files(config: dict) -> list[str]:
    """results/calibration/<model>/<variant>.json of every calibrated variant (calibration_table's input)."""
    from xlt.workflow.plan import calibration_result

    return [calibration_result(**r) for r in result_runs(config)]


def choose(scores: dict[float, dict[int, float]], control: bool = True) -> dict:
    """The choice rule of the module docstring. scores: {radius: {seed: dev score (points)}}.
    Returns {rows (one per radius, sorted), best, effective, chosen, decision}."""
    radii = sorted(scores)
    rows = [{"radius": r, **point_summary(scores[r])} for r in radii]
    if not control:
        top = best(rows)
        return {"rows": rows, "best": top["radius"], "effective": None, "chosen": top["radius"],
                "decision": f"best mean: radius {top['radius']:g} (no control)"}
    base = scores[0.0]
    for row in rows[1:]:
        row["vs_control"] = paired_difference(scores[row["radius"]], base)
    nonzero = [r for r in rows if r["radius"] > 0]
    top = best(nonzero) if nonzero else None
    if top is None:
        return {"rows": rows, "best": None, "effective": False, "chosen": 0.0,
                "decision": "no effective radius (the grid holds only the control)"}
    d = top["vs_control"]
    effective = d["se"] is not None and d["diff"] > d["se"]
    gap = f"{d['diff']:+.2f} ± {d['se']:.2f}" if d["se"] is not None else f"{d['diff']:+.2f} (no SE: 1 seed)"
    if effective:
        decision = f"radius {top['radius']:g}: best mean, beats radius 0 by {gap} points (> 1 SE)"
    else:
        decision = (f"no effective radius: the best, {top['radius']:g}, is {gap} points vs radius 0 (not more "
                    f"than 1 SE); the variant trains at radius 0 (the control)")
    return {"rows": rows, "best": top["radius"], "effective": effective,
            "chosen": top["radius"] if effective else 0.0, "decision": decision}


def result(variant: str, block: dict, cal: dict, metric: str, scores: dict[float, dict[int, float]],
           chance: float | None = None) -> dict:
    """The calibration record of one variant (results/calibration/<model>/<variant>.json)."""
    control = bool(cal.get("control", True))
    choice = choose(scores, control)
    if chance is not None:
        for row in choice["rows"]:
            row["collapsed"] = row["mean"] <= chance + COLLAPSE_MARGIN
    return {"variant": variant, "method": block["method"], "radius_parameter": RADIUS[block["method"]],
            "norm": radius_norm(block), "scale": block.get("scale", "absolute"), "task": cal["task"],
            "selection_metric": metric, "scale_of_scores": "points (0-100)", "seeds": seeds(cal),
            "horizon": horizon_label(cal), "control": control, "chance": chance, "grid": choice["rows"],
            "best": choice["best"], "effective": choice["effective"], "chosen": choice["chosen"],
            "decision": choice["decision"], "chosen_block": with_radius(block, choice["chosen"]),
            "rule": ("best mean over seeds, kept only if it beats radius 0 by more than the SE of the "
                     "paired difference; else no effective radius (radius 0)") if control else
                    "best mean over seeds; ties: the smaller radius"}


def _pm(mean: float, se: float | None, sign: str = "") -> str:
    return f"{mean:{sign}.2f} ± {se:.2f}" if se is not None else f"{mean:{sign}.2f} (1 seed)"


def calibration_table(paths: list[str]) -> str:
    """Markdown for summary.md: every calibrated variant's grid points (dev mean ± SE over seeds, the
    paired difference to radius 0) and its choice. paths: results/calibration/<model>/<variant>.json."""
    from xlt.io import read_json

    lines = ["| variant | radius | English dev (mean ± SE) | vs radius 0 (Δ ± SE) | seeds | choice |",
             "|---|---|---|---|---|---|"]
    for path in paths:
        rec = read_json(path)
        for row in rec["grid"]:
            d = row.get("vs_control")
            vs = "control" if rec["control"] and row["radius"] == 0 else (_pm(d["diff"], d["se"], "+") if d else "—")
            mark = "**chosen**" if row["radius"] == rec["chosen"] else ""
            if row.get("collapsed"):
                mark = (mark + " collapsed").strip()
            lines.append(f"| {rec['variant']} | {row['radius']:g} | {_pm(row['mean'], row['se'])} | {vs} | "
                         f"{row['n']} | {mark} |")
        lines.append(f"| {rec['variant']} | | | | | {rec['decision']} |")
    return "\n".join(lines)


def cross_checks(config: dict) -> list[str]:
    """Config errors a schema cannot see: calibrated variants need the stage, a grid and a radius; with
    the control on, every grid holds 0 and there are >= 2 seeds (the comparison needs a standard error)."""
    out, cal = [], settings(config)
    if cal is not None:
        out += horizon_checks(cal, "study.calibration")
        if has_control(config):
            for key, radii in cal["grid"].items():
                if 0 not in [float(r) for r in radii]:
                    out.append(f"study.calibration.grid.{key}: control is on (study.calibration.control, default "
                               f"true): add radius 0 to the grid, or set control: false")
            if len(seeds(cal)) < 2:
                out.append("study.calibration.seeds: the radius-0 control needs a standard error: use >= 2 seeds "
                           "(3 or more recommended), or set control: false")
    for v in calibrated_variants(config):
        block = config["variants"][v]
        if block["method"] not in RADIUS:
            out.append(f"variants.{v}: method {block['method']} has no budget to calibrate; drop budget: calibrated")
            continue
        if cal is None:
            out.append(f"variants.{v}: budget: calibrated needs study.calibration (task, fraction or steps, "
                       f"seeds, grid)")
            continue
        if not grid(config, v):
            out.append(f"study.calibration.grid: no radii for variant {v!r} (add `{block['method']}: [...]` "
                       f"or `{v}: [...]`)")
        radius = block.get(RADIUS[block["method"]])
        if not radius or radius <= 0:
            out.append(f"variants.{v}.{RADIUS[block['method']]}: a calibrated block needs a positive radius "
                       f"(it fixes the ratio of the tied sizes)")
    return out
