"""Budget calibration on English dev: which perturbation radius each adversarial variant uses.

`study.calibration` names one intermediate task, a horizon (a `fraction` of that task's real schedule,
or `steps`), a number of `seeds` and a grid of radii per method (or per variant name). For every variant
whose block says `budget: calibrated`, one short run per grid radius and seed trains on that task's
English train split and is scored once, at its end, on its English dev split (xlt/workflow/selection.py).

The control: with `control: true` (the default) every grid also trains radius 0 — the method's passes
and losses with a zero perturbation, which with `dropout: shared` is exactly standard training
(tests/test_adversarial.py). The choice never trains a variant at radius 0: an arm that is a copy of
standard training answers nothing about the method, and its contrast with standard would read as
"equivalent". The rule (`rule`), per variant:
  best_nonzero (default)  the best English-dev mean over the non-zero radii (ties: the smaller radius);
                          the comparison with radius 0 (paired by seed: seed s at radius r and at 0 share
                          the head's initialisation and the batch order, SE = SD of the per-seed
                          differences / sqrt(n)) is reported — "English-dev effect shown" when the chosen
                          radius beats radius 0 by more than that SE — and gates nothing: the question is
                          what the method does to transfer, not whether it helps English dev first;
  gated                   that best radius only if it beats radius 0 by more than 1 SE, else the
                          radius declared before results in `fallback` (per method or variant name, > 0).
The choice, every grid point's mean +- SE and the comparison with radius 0 go to
results/calibration/<model>/<variant>.json; the variant's training jobs read it
(xlt.steps.train.resolve_budget). Seeds: study.calibration.seeds, disjoint from the study's
(xlt/workflow/selection.py `seeds`). Nothing non-English is read. docs/methods.md gives the rule's
simulated choice rates (xlt/analysis/calibration_simulation.py)."""
from __future__ import annotations

from xlt.adversarial.budgets import RADIUS, is_calibrated, radius_norm, with_radius
from xlt.workflow.config import canonical, schema_defaults, training_config
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
    return bool((settings(config) or {}).get("control", schema_defaults("study", "calibration")["control"]))


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
    """The slice of study.calibration one variant's choice depends on (its own grid and fallback only:
    editing another method's must not rewrite this variant's result and re-run its training)."""
    cal = settings(config)
    return canonical({**{k: v for k, v in cal.items() if k not in ("grid", "fallback")}, "grid": grid(config, variant),
                      "fallback": fallback(config, variant)})


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


RULES = ("best_nonzero", "gated")


def rule_of(cal: dict) -> str:
    return cal.get("rule", schema_defaults("study", "calibration")["rule"])


def fallback(config: dict, variant: str) -> float | None:
    """The radius declared for `variant` when the gated rule shows no English-dev effect (by variant name,
    else method), or None."""
    fb, method = (settings(config) or {}).get("fallback") or {}, config["variants"][variant]["method"]
    value = fb.get(variant, fb.get(method))
    return None if value is None else float(value)


def choose(scores: dict[float, dict[int, float]], rule: str = "best_nonzero",
           fallback_radius: float | None = None) -> dict:
    """The choice rule of the module docstring. scores: {radius: {seed: dev score (points)}}, radius 0 the
    control when present. Returns {rows (one per radius, sorted), best, effective (English-dev effect vs
    radius 0 shown; None without the control), chosen (never 0), decision}."""
    rows = [{"radius": r, **point_summary(scores[r])} for r in sorted(scores)]
    nonzero = [row for row in rows if row["radius"] > 0]
    if not nonzero:
        raise ValueError("the calibration grid holds no non-zero radius: nothing to choose (add radii > 0)")
    if 0.0 in scores:
        for row in nonzero:
            row["vs_control"] = paired_difference(scores[row["radius"]], scores[0.0])
    top = best(nonzero)
    d = top.get("vs_control")
    effective = None if d is None else bool(d["se"] is not None and d["diff"] > d["se"])
    if d is None:
        versus = "no radius-0 control"
    else:
        gap = f"{d['diff']:+.2f} ± {d['se']:.2f}" if d["se"] is not None else f"{d['diff']:+.2f} (no SE: 1 seed)"
        versus = (f"vs radius 0 {gap} points: English-dev effect {'shown' if effective else 'not shown'} "
                  f"({'more' if effective else 'not more'} than 1 SE)")
    if rule == "gated" and not effective:
        if fallback_radius is None or fallback_radius <= 0:
            raise ValueError("the gated calibration rule needs a declared fallback radius > 0 "
                             "(study.calibration.fallback)")
        return {"rows": rows, "best": top["radius"], "effective": effective, "chosen": fallback_radius,
                "decision": f"the best non-zero radius, {top['radius']:g}, {versus}; trains at the declared "
                            f"fallback radius {fallback_radius:g}"}
    if rule not in RULES:
        raise ValueError(f"calibration rule {rule!r}: use one of {', '.join(RULES)}")
    gate = " (the gate: passed)" if rule == "gated" else " (reported, not a gate)"
    return {"rows": rows, "best": top["radius"], "effective": effective, "chosen": top["radius"],
            "decision": f"radius {top['radius']:g}: the best English-dev mean of the non-zero radii; {versus}"
                        + (gate if d is not None else "")}


def result(variant: str, block: dict, cal: dict, metric: str, scores: dict[float, dict[int, float]],
           chance: float | None = None, fallback_radius: float | None = None) -> dict:
    """The calibration record of one variant (results/calibration/<model>/<variant>.json)."""
    rule = rule_of(cal)
    choice = choose(scores, rule, fallback_radius)
    if chance is not None:
        for row in choice["rows"]:
            row["collapsed"] = row["mean"] <= chance + COLLAPSE_MARGIN
    return {"variant": variant, "method": block["method"], "radius_parameter": RADIUS[block["method"]],
            "norm": radius_norm(block), "scale": block.get("scale", "absolute"), "task": cal["task"],
            "selection_metric": metric, "scale_of_scores": "points (0-100)", "seeds": seeds(cal),
            "horizon": horizon_label(cal), "control": 0.0 in scores, "chance": chance, "grid": choice["rows"],
            "best": choice["best"], "effective": choice["effective"], "chosen": choice["chosen"],
            "decision": choice["decision"], "chosen_block": with_radius(block, choice["chosen"]),
            "rule": rule, "fallback": fallback_radius,
            "rule_text": ("best English-dev mean over the non-zero radii; the comparison with radius 0 is "
                          "reported, not a gate") if rule == "best_nonzero" else
                         ("best non-zero radius if it beats radius 0 by more than the SE of the paired "
                          f"difference, else the declared fallback {fallback_radius:g}")}


def untested_arms(variant_blocks: dict[str, dict[str, dict]], records: dict[tuple[str, str], dict]) -> dict[tuple[str, str], str]:
    """{(model, variant): why} of the adversarial arms that never perturb, so their contrast with standard
    tests nothing: a fixed block whose radius is 0, or a calibration record that chose radius 0 (an older
    rule's; the current rules never do). variant_blocks: {model: {variant: block}}; records: {(model,
    variant): calibration record}. The statistics give such contrasts the verdict `not tested`."""
    out = {}
    for model, blocks in variant_blocks.items():
        for variant, block in blocks.items():
            method = block.get("method", "standard")
            if method == "standard" or method not in RADIUS:
                continue
            rec = records.get((model, variant))
            if is_calibrated(block) and rec is not None and float(rec["chosen"]) == 0.0:
                out[(model, variant)] = (f"calibration chose radius 0 ({rec['decision']}): the arm trained without "
                                         "perturbation, a copy of standard training")
            elif not is_calibrated(block) and not block.get(RADIUS[method]):
                out[(model, variant)] = (f"its block sets {RADIUS[method]} = 0: the arm trained without "
                                         "perturbation, a copy of standard training")
    return out


def _pm(mean: float, se: float | None, sign: str = "") -> str:
    return f"{mean:{sign}.2f} ± {se:.2f}" if se is not None else f"{mean:{sign}.2f} (1 seed)"


def calibration_table(paths: list[str]) -> str:
    """Markdown for summary.md: every calibrated variant's grid points (dev mean ± SE over seeds, the
    paired difference to radius 0) and its choice. paths: results/calibration/<model>/<variant>.json."""
    from xlt.io import read_json

    lines = ["| variant | radius | English dev (mean ± SE) | vs radius 0 (Δ ± SE) | seeds | trains at |",
             "|---|---|---|---|---|---|"]
    for path in paths:
        rec = read_json(path)
        for row in rec["grid"]:
            d = row.get("vs_control")
            vs = "control" if row["radius"] == 0 else (_pm(d["diff"], d["se"], "+") if d else "—")
            mark = "**chosen**" if row["radius"] == rec["chosen"] else ""
            if row.get("collapsed"):
                mark = (mark + " collapsed").strip()
            lines.append(f"| {rec['variant']} | {row['radius']:g} | {_pm(row['mean'], row['se'])} | {vs} | "
                         f"{row['n']} | {mark} |")
        lines.append(f"| {rec['variant']} | | | | | {rec['decision']} |")
    return "\n".join(lines)


def cross_checks(config: dict) -> list[str]:
    """Config errors a schema cannot see: calibrated variants need the stage, a non-zero radius to choose
    and a radius of their own; the control needs radius 0 and >= 2 seeds; the gated rule needs the
    control and a fallback > 0 for every calibrated variant."""
    out, cal = [], settings(config)
    if cal is not None:
        out += horizon_checks(cal, "study.calibration")
        for key, radii in cal["grid"].items():
            radii = [float(r) for r in radii]
            if has_control(config) and 0 not in radii:
                out.append(f"study.calibration.grid.{key}: control is on (study.calibration.control, default "
                           f"true): add radius 0 to the grid, or set control: false")
            if not any(r > 0 for r in radii):
                out.append(f"study.calibration.grid.{key}: no radius > 0 to choose (radius 0 is only the "
                           f"control: a variant is never trained at it)")
        if has_control(config) and len(seeds(cal)) < 2:
            out.append("study.calibration.seeds: the radius-0 control needs a standard error: use >= 2 seeds "
                       "(3 or more recommended), or set control: false")
        if rule_of(cal) == "gated" and not has_control(config):
            out.append("study.calibration.rule: gated compares with radius 0: set control: true")
        for key, radius in (cal.get("fallback") or {}).items():
            if float(radius) <= 0:
                out.append(f"study.calibration.fallback.{key}: {radius} — the fallback radius must be > 0 "
                           "(radius 0 would train a copy of standard training)")
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
        if rule_of(cal) == "gated" and fallback(config, v) is None:
            out.append(f"study.calibration.fallback: the gated rule needs a fallback radius for variant {v!r} "
                       f"(add `{block['method']}: <radius > 0>` or `{v}: <radius>`)")
        radius = block.get(RADIUS[block["method"]])
        if not radius or radius <= 0:
            out.append(f"variants.{v}.{RADIUS[block['method']]}: a calibrated block needs a positive radius "
                       f"(it fixes the ratio of the tied sizes)")
    return out
