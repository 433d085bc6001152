"""Steps of rules/calibration.smk and rules/selection.smk: choose from the grid's English-dev scores."""
from __future__ import annotations

from xlt.io import read_json, write_json


def _scores(points: list[str], runs: list[dict], task: str):
    """({point: {run: dev score in points}}, selection metric, chance in points or None); a run is its
    seed, or `start/seed` when the selection pools several starting points."""
    from xlt.model.metrics import points as in_points
    from xlt.data.tasks import get_task

    metric = get_task(task).selection_metric
    scores, chance = {}, None
    pooled = {r.get("start", "none") for r in runs} != {"none"}
    for run, path in zip(runs, points):
        record = read_json(path)
        key = f"{run['start']}/{run['seed']}" if pooled else int(run["seed"])
        scores.setdefault(run["point"], {})[key] = in_points(metric, record["metrics"][task][metric])
        chance = (record.get("chance") or {}).get(task, {}).get("value", chance)
    return scores, metric, chance


def calibrate(points: list[str], runs: list[dict], block: dict, settings: dict, result: str, variant: str) -> None:
    """A calibrated variant's radius (rules/calibration.smk): points[i] is the dev_metrics.json of runs[i]
    ({point, seed, ...}, same order); `block` the variant's block."""
    from xlt.workflow.calibration import result as choose

    scores, metric, chance = _scores(points, runs, settings["task"])
    chosen = choose(variant, block, settings, metric, {float(p): s for p, s in scores.items()}, chance,
                    settings.get("fallback"))
    print(f"{variant}: dev {metric} per radius (points, mean ± SE over seeds): "
          f"{[(r['radius'], round(r['mean'], 2), r['se'] and round(r['se'], 2)) for r in chosen['grid']]}; "
          f"{chosen['decision']}")
    write_json(chosen, result)


def select(points: list[str], runs: list[dict], settings: dict, result: str, stage: str, task: str) -> None:
    """A stage's training keys chosen on `task`'s English dev (rules/selection.smk): points[i] is the
    dev_metrics.json of runs[i] ({point, seed, start, ...}, same order)."""
    from xlt.workflow.selection import grid_order, result as choose

    scores, metric, chance = _scores(points, runs, task)
    init = list(dict.fromkeys(r.get("start", "none") for r in runs))
    chosen = choose(stage, task, metric, grid_order(list(scores)), scores, settings, chance, init)
    print(f"{stage}/{task}: dev {metric} per point (points, mean ± SE over seeds): "
          f"{[(r['point'], round(r['mean'], 2), r['se'] and round(r['se'], 2)) for r in chosen['grid']]}; "
          f"chosen {chosen['chosen']}")
    write_json(chosen, result)
