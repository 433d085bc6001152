"""The tidy results matrix: one row per (model, intermediate, variant, target, seed, language, metric)."""
from __future__ import annotations

import pandas as pd

from xlt.data.provenance import matrix_columns

RUN_KEYS = ["model", "intermediate", "variant", "target", "seed", "language"]
RUN = RUN_KEYS[:-1]  # one training run (a target run: every language of it)
PROVENANCE = ["model_commit", "dataset_revisions", "code", "variant_blocks"]
# English dev of the run that made the row (xlt/data/chance.py): its selected checkpoint's score and chance level
# (points), and whether it collapsed (score <= chance + 2 points); target rows also say whether the
# intermediate run they started from collapsed on any of its tasks (False for `none`).
COLLAPSE = ["dev_score", "dev_chance", "collapsed", "intermediate_collapsed"]


def matrix_from_records(records: list[dict], dev: dict[tuple, dict] | None = None) -> pd.DataFrame:
    """records: {model, intermediate, variant, target, seed, language, n_examples, metrics, [stage],
    [provenance], [dev]}; provenance becomes the columns of xlt.data.provenance.matrix_columns. `dev`: {run
    key (RUN order): dev_record} for target records (their English dev, from the target run's
    dev_metrics.json); intermediate records carry their own `dev`."""
    from xlt.workflow.plan import BASELINE, split_variant

    dev, upstream = dev or {}, {}
    for r in records:  # an intermediate run collapsed if it collapsed on any of its tasks
        if r.get("stage") == "intermediate" and r.get("dev"):
            key = (r["model"], r["intermediate"], r["variant"], r["seed"])
            upstream[key] = upstream.get(key, False) or bool(r["dev"]["collapsed"])

    def dev_of(r):
        d = r.get("dev") or dev.get(tuple(r[k] for k in RUN)) or {}
        if r.get("stage", "target") == "target":
            key = (r["model"], r["intermediate"], split_variant(r["variant"])[0], r["seed"])
            d = {**d, "intermediate_collapsed": False if r["intermediate"] == BASELINE else upstream.get(key)}
        return {k: d.get(k) for k in COLLAPSE}

    rows = [{**{k: r[k] for k in RUN_KEYS}, "stage": r.get("stage", "target"), "metric": m, "value": float(v),
             "n_examples": r.get("n_examples"), **matrix_columns(r.get("provenance", {})), **dev_of(r)}
            for r in records for m, v in r["metrics"].items()]
    df = pd.DataFrame(rows, columns=RUN_KEYS + ["stage", "metric", "value", "n_examples", *PROVENANCE, *COLLAPSE])
    return df.sort_values(["stage", *RUN_KEYS, "metric"]).reset_index(drop=True)


def dev_record(record: dict, task: str) -> dict:
    """{dev_score, dev_chance, collapsed} of a dev_metrics.json record on one of its tasks (points)."""
    from xlt.data.chance import collapsed
    from xlt.model.metrics import points

    if "chance" not in record:
        raise ValueError(f"a dev_metrics.json without `chance` (written before collapsed runs were flagged): "
                         f"re-run its training job (run: {record.get('init')}, seed {record.get('seed')})")
    chance = record["chance"][task]
    score = points(chance["metric"], record["metrics"][task][chance["metric"]])
    return {"dev_score": score, "dev_chance": chance["value"], "collapsed": collapsed(score, chance["value"])}


def target_dev_records(paths: list[str]) -> dict[tuple, dict]:
    """{run key: dev_record} from target runs' dev_metrics.json,
    results/target/{model}/{inter}/{variant}/{target}/seed{seed}/dev_metrics.json."""
    from pathlib import Path

    from xlt.io import read_json

    out = {}
    for path in paths:
        parts = Path(path).parts
        model, inter, variant, target, seed = parts[-6], parts[-5], parts[-4], parts[-3], int(parts[-2][4:])
        out[(model, inter, variant, target, seed)] = dev_record(read_json(path), target)
    return out


def intermediate_records(path: str) -> list[dict]:
    """Rows for an intermediate run's dev metrics: target = the task scored, language = en.

    The run's identity comes from its path: results/intermediate/{model}/{inter}/{variant}/seed{seed}/."""
    from pathlib import Path

    from xlt.io import read_json

    parts = Path(path).parts
    model, inter, variant, seed = parts[-5], parts[-4], parts[-3], int(parts[-2].removeprefix("seed"))
    record = read_json(path)
    return [{"model": model, "intermediate": inter, "variant": variant, "target": task, "seed": seed,
             "language": "en", "stage": "intermediate", "provenance": record.get("provenance", {}),
             "dev": dev_record(record, task),
             "metrics": {k: v for k, v in m.items() if k != "step"}} for task, m in record["metrics"].items()]


def collapsed_runs(matrix: pd.DataFrame, stage: str = "target") -> pd.DataFrame:
    """The runs of `stage` flagged collapsed: one row per run (RUN columns, dev_score, dev_chance),
    sorted. Target stage: the runs whose own English dev ended <= chance + 2 points (the unit
    `report.collapsed_runs: drop` removes)."""
    sub = matrix[(matrix["stage"] == stage) & matrix["collapsed"].fillna(False).astype(bool)]
    return sub[[*RUN, "dev_score", "dev_chance"]].drop_duplicates(RUN).sort_values(RUN).reset_index(drop=True)


def without_collapsed(frame: pd.DataFrame, matrix: pd.DataFrame) -> pd.DataFrame:
    """`frame` (any table with the RUN columns, e.g. example scores; `inter`/`intermediate` both
    accepted) without the rows of collapsed target runs."""
    runs = collapsed_runs(matrix)
    name = "intermediate" if "intermediate" in frame.columns else "inter"
    bad = set(map(tuple, runs[RUN].astype({"seed": int}).itertuples(index=False, name=None)))
    keys = frame[["model", name, "variant", "target", "seed"]].astype({"seed": int}).itertuples(index=False, name=None)
    return frame[[k not in bad for k in keys]].reset_index(drop=True)


def pivot(matrix: pd.DataFrame, target: str) -> pd.DataFrame:
    """One target's results in points (0-100; accuracy is stored as a fraction), mean over seeds: rows =
    (metric, model, intermediate, variant), columns = languages (English first) and `avg-xx`, the mean
    over the non-English languages."""
    from xlt.model.metrics import points

    sub = matrix[(matrix["target"] == target) & (matrix["stage"] == "target")]
    sub = sub.assign(value=[points(m, v) for m, v in zip(sub["metric"], sub["value"])])
    table = sub.pivot_table(index=["metric", "model", "intermediate", "variant"], columns="language",
                            values="value", aggfunc="mean")
    others = sorted(c for c in table.columns if c != "en")
    table = table[["en", *others] if "en" in table.columns else others]
    table["avg-xx"] = table[others].mean(axis=1)
    table.columns.name = None
    return table.round(1)


def format_pivot(path: str, targets: list[str] | None = None) -> str:
    """The pivot of every target (or of `targets`) of the matrix at `path`, in points, as text."""
    matrix = pd.read_parquet(path)
    targets = targets or sorted(matrix.loc[matrix["stage"] == "target", "target"].unique())
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 500,
                           "display.float_format", "{:.1f}".format):
        text = "\n\n".join(f"== {t} ==\n{pivot(matrix, t).to_string()}" for t in targets)
    return "\n".join(line.rstrip() for line in text.splitlines())


def main(argv=None) -> None:
    """`python -m xlt.analysis.matrix [results/matrix.parquet] [--target paws_x]`: the pivot the demo ends
    with (the README's example is its paws_x part)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m xlt.analysis.matrix", description=main.__doc__)
    p.add_argument("path", nargs="?", default="results/matrix.parquet")
    p.add_argument("--target", action="append", help="only this target (repeatable)")
    args = p.parse_args(argv)
    print(format_pivot(args.path, args.target))


if __name__ == "__main__":
    main()
