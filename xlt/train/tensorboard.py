"""TensorBoard scalars of a training run (training.tensorboard: true): each train-log record's numbers as
scalars at its step — loss, gradient norm, learning rate, tokens per minute, perturbation ratios, the dev
selection score and every dev metric — written as event files under results/tensorboard/. Nothing is
served: point `tensorboard --logdir results/tensorboard` at them. Needs the `tensorboard` package
(pip install -e '.[tensorboard]'); the config check says so when it is missing."""
from __future__ import annotations

from pathlib import Path


def event_folder(metrics_out: str | Path) -> Path:
    """results/tensorboard/<the run's folder below results/> (beside the run when it is elsewhere)."""
    run = Path(metrics_out).parent
    parts = run.parts
    if "results" in parts:
        i = parts.index("results")
        return Path(*parts[:i + 1], "tensorboard", *parts[i + 1:])
    return run / "tensorboard"


def scalars(record: dict) -> dict[str, float]:
    """{tag: value} of one train-log record (empty for records without a step)."""
    if "step" not in record:
        return {}
    out = {f"train/{k}": record[k] for k in ("loss", "grad_norm", "lr") if k in record}
    if record.get("step_s"):
        out["train/tokens_per_minute"] = 60 * record["tokens"] / record["step_s"]
    out.update({f"perturbation/{k}": v for k, v in (record.get("perturbation") or {}).items()})
    if "selection_score" in record:
        out["dev/selection_score"] = record["selection_score"]
    for task, metrics in (record.get("dev") or {}).items():
        out.update({f"dev/{task}/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
    return {tag: float(v) for tag, v in out.items() if isinstance(v, (int, float))}


class Scalars:
    """A train loop's `on_record`: opens the event writer at the first record — after a resume, with
    purge_step at the resumed step, so TensorBoard drops the points logged after the saved state."""

    def __init__(self, folder: str | Path):
        self.folder, self.writer = Path(folder), None

    def __call__(self, record: dict) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.folder.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(str(self.folder), purge_step=record.get("resumed_at_step"))
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
