"""Steps of rules/report.smk: the tidy results matrix, per-example scores, statistics, figures, summary."""
from __future__ import annotations

import pandas as pd

from xlt.io import atomic_path, read_json, write_parquet


def build_matrix(metric_files: list[str], intermediate_files: list[str], out_parquet: str, out_csv: str) -> pd.DataFrame:
    """Zero-shot target metrics (stage=target) and intermediate dev metrics (stage=intermediate)."""
    from xlt.matrix import intermediate_records, matrix_from_records

    records = [read_json(p) for p in metric_files] + [r for p in intermediate_files for r in intermediate_records(p)]
    matrix = matrix_from_records(records)
    write_parquet(matrix, out_parquet)
    with atomic_path(out_csv) as tmp:
        matrix.to_csv(tmp, index=False)
    return matrix


def example_scores(runs: list[dict], languages: dict[str, list[str]], test_data: dict[str, str], out: str) -> None:
    """Per-example scores of every target run and language, from the saved predictions."""
    from xlt.plan import eval_file
    from xlt.report import example_scores as score_file

    frames = []
    tests = {t: pd.read_parquet(p) for t, p in test_data.items()}
    for run in runs:
        test = tests[run["target"]]
        for lang in languages[run["target"]]:
            preds = read_json(eval_file(**run, lang=lang, kind="predictions"))
            scores = score_file(preds, test[test["language"] == lang], run["target"])
            frames.append(scores.assign(model=run["model"], intermediate=run["inter"], variant=run["variant"],
                                        target=run["target"], seed=run["seed"], language=lang))
    write_parquet(pd.concat(frames, ignore_index=True), out)


def statistics(scores_path: str, matrix_path: str, replicates: int, seed: int, out_aggregate: str,
               out_comparisons: str, report_cfg: dict | None = None, groups: dict | None = None) -> None:
    """Seed aggregates and two-level-bootstrap comparisons (primary metric of each target), per model.
    `groups`: {model: {group: [languages]}} (exploratory language-group averages)."""
    import time

    from xlt.comparisons import comparisons
    from xlt.report import PRIMARY, aggregate
    from xlt.tasks import get_task

    cfg, groups = report_cfg or {}, groups or {}
    scores = pd.read_parquet(scores_path)
    frames = []
    for (target, model), sub in scores.groupby(["target", "model"]):
        t0 = time.perf_counter()
        comp = comparisons(sub[sub["metric"] == PRIMARY[target]], replicates, seed,
                           parallel=get_task(target).parallel_test, groups=groups.get(model),
                           confirmatory=cfg.get("confirmatory", ()), alpha=cfg.get("alpha", 0.05),
                           power=cfg.get("power", 0.8), effect_of_interest=cfg.get("effect_of_interest"))
        print(f"{target} / {model}: {replicates} two-level bootstrap replicates, {sub['example_id'].nunique()} "
              f"examples, {sub[['intermediate', 'variant', 'seed']].drop_duplicates().shape[0]} runs: "
              f"{time.perf_counter() - t0:.2f} s")
        frames.append(comp.assign(target=target, metric=PRIMARY[target]))
    matrix = pd.read_parquet(matrix_path)
    agg = pd.concat([aggregate(m, groups.get(model)) for model, m in matrix.groupby("model")], ignore_index=True)
    for df, path in ((agg, out_aggregate), (pd.concat(frames), out_comparisons)):
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)


def figures(aggregate_path: str, comparisons_path: str, targets: dict[str, list[str]], outputs: dict[str, str]) -> None:
    """outputs: {heatmap_<target>, languages_<target>, gap} -> png path."""
    from xlt import figures as fig

    agg, comps = pd.read_csv(aggregate_path), pd.read_csv(comparisons_path)
    for target, langs in targets.items():  # atomic_path keeps the file name, so matplotlib sees ".png"
        with atomic_path(outputs[f"heatmap_{target}"]) as tmp:
            fig.heatmap(agg, target, str(tmp))
        with atomic_path(outputs[f"languages_{target}"]) as tmp:
            fig.language_bars(comps[comps["target"] == target], agg, target, langs, str(tmp))
    with atomic_path(outputs["gap"]) as tmp:
        fig.gap_plot(agg, list(targets), str(tmp))


def training_curves(runs: list[dict], logs: list[str], out: str) -> None:
    """The intermediate runs' training curves in one figure."""
    from xlt import figures as fig
    from xlt.curves import collect

    with atomic_path(out) as tmp:
        fig.training_curves(collect(runs, logs), str(tmp))


def summary(aggregate_path: str, comparisons_path: str, targets: dict[str, list[str]], replicates: int,
            demo: bool, out: str, report_cfg: dict | None = None, groups: dict | None = None) -> None:
    """`groups`: the language groups block of the study's model family ({source, groups}) or None."""
    from xlt.report import summary_markdown

    agg, comps = pd.read_csv(aggregate_path), pd.read_csv(comparisons_path)
    text = summary_markdown(agg, {t: comps[comps["target"] == t] for t in targets}, targets, replicates, demo,
                            report_cfg, groups)
    with atomic_path(out) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
