"""Step of rules/calibration.smk: pick each calibrated variant's budget from its grid's dev scores."""
from __future__ import annotations

from xlt.io import read_json, write_json


def select(point_metrics: list[str], grid: list[float], variant: str, block: dict, task: str, out: str) -> None:
    """point_metrics[i]: dev_metrics.json of the short run at radius grid[i] (same order)."""
    from xlt.calibration import result
    from xlt.tasks import get_task

    metric = get_task(task).selection_metric
    scores = {float(r): float(read_json(p)["metrics"][task][metric]) for r, p in zip(grid, point_metrics)}
    chosen = result(variant, block, task, metric, scores)
    write_json(chosen, out)
    print(f"{variant}: dev {metric} per radius {scores}; chosen {chosen['chosen']}")
