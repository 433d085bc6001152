"""Step of rules/calibration.smk and rules/selection.smk: choose from the grid's English-dev scores."""
from __future__ import annotations

from xlt.io import read_json, write_json


def _scores(point_metrics: list[str], runs: list[dict], task: str):
    """({point: {run: dev score in points}}, selection metric, chance in points or None); a run is its
    seed, or `start/seed` when the selection pools several starting points."""
    from xlt.workflow.selection import points
    from xlt.data.tasks import get_task

    metric = get_task(task).selection_metric
    scores, chance = {}, None
    pooled = {r.get("start", "none") for r in runs} != {"none"}
    for run, path in zip(runs, point_metrics):
        record = read_json(path)
        key = f"{run['start']}/{run['seed']}" if pooled else int(run["seed"])
        scores.setdefault(run["point"], {})[key] = points(metric, record["metrics"][task][metric])
        chance = (record.get("chance") or {}).get(task, {}).get("value", chance)
    return scores, metric, chance


def select(point_metrics: list[str], runs: list[dict], kind: str, settings: dict, out: str,
           block: dict | None = None, variant: str | None = None, stage: str | None = None,
           task: str | None = None) -> None:
    """point_metrics[i]: dev_metrics.json of runs[i] ({point, seed, ...}, same order). kind: `calibration`
    (a variant's radius; block = its variant block) or `selection` (a stage's training keys)."""
    if kind == "calibration":
        from xlt.workflow.calibration import result

        scores, metric, chance = _scores(point_metrics, runs, settings["task"])
        chosen = result(variant, block, settings, metric, {float(p): s for p, s in scores.items()}, chance,
                        settings.get("fallback"))
        print(f"{variant}: dev {metric} per radius (points, mean ± SE over seeds): "
              f"{[(r['radius'], round(r['mean'], 2), r['se'] and round(r['se'], 2)) for r in chosen['grid']]}; "
              f"{chosen['decision']}")
    else:
        from xlt.workflow.selection import grid_order, result

        scores, metric, chance = _scores(point_metrics, runs, task)
        init = list(dict.fromkeys(r.get("start", "none") for r in runs))
        chosen = result(stage, task, metric, grid_order(list(scores)), scores, settings, chance, init)
        print(f"{stage}/{task}: dev {metric} per point (points, mean ± SE over seeds): "
              f"{[(r['point'], round(r['mean'], 2), r['se'] and round(r['se'], 2)) for r in chosen['grid']]}; "
              f"chosen {chosen['chosen']}")
    write_json(chosen, out)
