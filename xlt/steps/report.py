"""Steps of rules/report.smk: the tidy results matrix, per-example scores, statistics, figures, summary."""
from __future__ import annotations

import pandas as pd

from xlt.io import atomic_path, read_json, write_parquet


def build_matrix(eval_metrics: list[str], intermediate_metrics: list[str], parquet: str, csv: str,
                 target_dev: list[str] | None = None) -> pd.DataFrame:
    """Zero-shot target metrics (stage=target: each target run's per-language `eval_metrics`) and intermediate
    dev metrics (stage=intermediate); every row says whether its run collapsed on English dev (`target_dev`:
    the target runs' dev_metrics.json)."""
    from xlt.analysis.matrix import intermediate_records, matrix_from_records, target_dev_records

    records = each_input(eval_metrics, read_json) + \
        [r for rs in each_input(intermediate_metrics, intermediate_records) for r in rs]
    dev = {k: v for d in each_input(target_dev or [], lambda p: target_dev_records([p])) for k, v in d.items()}
    matrix = matrix_from_records(records, dev)
    write_parquet(matrix, parquet)
    with atomic_path(csv) as tmp:
        matrix.to_csv(tmp, index=False)
    return matrix


def each_input(paths: list[str], read) -> list:
    """`read(path)` of every path; a file that cannot be read (truncated JSON, a missing key) stops the job
    naming that file among its hundreds of inputs, and how to make it anew."""
    import json

    out = []
    for path in paths:
        try:
            out.append(read(path))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"cannot read {path} ({type(err).__name__}: {err}). It is damaged (e.g. truncated by a "
                             f"full disk): delete it and re-run its job, e.g. `snakemake --cores 1 --forcerun "
                             f"{path}` with your --configfile") from err
    return out


def example_scores(runs: list[dict], languages: dict[str, list[str]], predictions: list[str], test: list[str],
                   scores: str) -> None:
    """Per-example scores of every target run and language, from the saved predictions (score_frame)."""
    write_parquet(score_frame(runs, languages, predictions, test), scores)


def score_frame(runs: list[dict], languages: dict[str, list[str]], predictions: list[str],
                test: list[str]) -> pd.DataFrame:
    """The per-example scores of `runs` (example_scores' table, in memory): `predictions` holds the runs'
    prediction files, run by run, each run's in its target's `languages` order (the rules' run_eval_files);
    `test` each target's test split, in the order of `languages` (the study's targets)."""
    from xlt.analysis.report import example_scores as score_file

    wanted = sum(len(languages[run["target"]]) for run in runs)
    if len(predictions) != wanted:
        raise ValueError(f"{len(predictions)} prediction files for {wanted} (run, language) pairs")
    frames, files = [], iter(predictions)
    tests = {t: pd.read_parquet(p) for t, p in zip(languages, test, strict=True)}
    for run in runs:
        examples = tests[run["target"]]
        for lang in languages[run["target"]]:
            preds = read_json(next(files))
            scores = score_file(preds, examples[examples["language"] == lang], run["target"])
            frames.append(scores.assign(model=run["model"], intermediate=run["inter"], variant=run["variant"],
                                        target=run["target"], seed=run["seed"], language=lang))
    return pd.concat(frames, ignore_index=True)


def interim(runs: list[dict], languages: dict[str, list[str]], test: list[str], predictions: list[str],
            eval_metrics: list[str], target_dev: list[str], wave: int | str, waves: list[list[int]], bootstrap: dict,
            look: str, report: dict | None = None, groups: dict | None = None, variants: dict | None = None,
            calibration: list[str] | None = None, families: list[str] | None = None) -> dict:
    """The look after wave `wave` of one model's waves (study.waves or the model's own; rules/report.smk's
    checkpoint, one per model), written to `look`: `analyse` of the model's runs of waves <= wave (their
    `predictions`, score_frame) at the look's nominal level (xlt/analysis/sequential.py: Lan-DeMets spending of
    report.alpha), under the declared rule for collapsed runs (`eval_metrics`, `target_dev`: the runs' metrics);
    each confirmatory family is decided when every test has a verdict. `bootstrap`: {replicates, seed};
    `variants` ({model: {variant: block}}) and `calibration`: the arms that never perturbed. It decides only
    which seeds are trained next — never anything a training job reads."""
    from xlt.analysis.comparisons import pooled_run_sd
    from xlt.io import write_json
    from xlt.analysis.matrix import matrix_from_records, target_dev_records, without_collapsed
    from xlt.analysis.sequential import look_levels, look_record

    wave = int(wave)
    cfg = dict(report or {})
    if families is not None:  # the model's own confirmatory families (its design's, else report.confirmatory)
        cfg["confirmatory"] = list(families)
    spending = cfg["spending"]
    levels = look_levels(waves, cfg["alpha"], spending)
    scores = score_frame(runs, languages, predictions, test)
    if cfg["collapsed_runs"] == "drop":
        matrix = matrix_from_records([read_json(p) for p in eval_metrics], target_dev_records(target_dev))
        scores = without_collapsed(scores, matrix)
    comps, variances = analyse(scores, int(bootstrap["replicates"]), int(bootstrap["seed"]),
                               {**cfg, "alpha": levels[wave - 1]}, groups or {}, untested_arms(variants, calibration))
    models = sorted({r["model"] for r in runs})
    record = {"model": models[0] if len(models) == 1 else None, **look_record(comps, wave, waves, levels, spending),
              # the run sd measured so far (python -m xlt.analysis.planning prices the remaining waves with it)
              "run_sd": [{"model": m, "target": t, "run_sd": sd, "df": df}
                         for (m, t), (sd, df) in pooled_run_sd(variances).items()]}
    write_json(record, look)
    print(f"{record['model']}: look {wave} of {len(waves)} ({record['seeds']} of {record['max_seeds']} seeds, level "
          f"{record['level']:.4g}): " + "; ".join(f"{f['family']}/{f['model']} {'decided' if f['decided'] else 'open'}"
                                                  for f in record["families"]))
    return record


def untested_arms(variant_blocks: dict | None, calibration_paths: list[str] | None) -> dict:
    """{(model, variant): why} of the arms that never perturbed (xlt/workflow/calibration.py untested_arms),
    from each model's variant blocks and the calibration records (results/calibration/<model>/<variant>.json)."""
    from pathlib import Path

    from xlt.workflow.calibration import untested_arms as find

    records = {(Path(p).parent.name, rec["variant"]): rec for p in calibration_paths or [] for rec in [read_json(p)]}
    return find(variant_blocks or {}, records)


def statistics(scores: str, matrix: str, bootstrap: dict, aggregate: str, comparisons: str,
               report: dict | None = None, groups: dict | None = None, run_variance: str | None = None,
               sensitivity: str | None = None, waves: dict[str, list[list[int]]] | None = None,
               interims: list[str] | None = None, variants: dict | None = None, calibration: list[str] | None = None,
               families: dict | None = None) -> None:
    """Seed aggregates, every comparison (`analyse`) under the declared rule for collapsed runs
    (report.collapsed_runs: keep | drop), the run-variance homogeneity diagnostic, and the confirmatory
    rows under the other rule (the sensitivity analysis; empty when no run collapsed), from the per-example
    `scores` and the `matrix`, to the CSVs `aggregate`, `comparisons`, `run_variance`, `sensitivity`.
    `bootstrap`: {replicates, seed}. `groups`: {model: {group: [languages]}} (language-group averages).
    `waves` ({model: its waves}) and `interims` (the looks made) when study.waves declares looks — the
    confirmatory tests are made at the level of the look the study ended at, and a family decided at an
    earlier look keeps that look's verdicts (xlt/analysis/sequential.py). `variants` ({model: {variant:
    block}}) and `calibration` (the calibration records): which arms never perturbed (their contrasts are
    `not tested`). `families`: {model: its confirmatory families} (a model's design may declare its own;
    default report.confirmatory)."""
    from xlt.analysis.matrix import collapsed_runs, without_collapsed
    from xlt.analysis.report import aggregate as aggregate_of

    cfg, groups = report or {}, groups or {}
    replicates, seed = int(bootstrap["replicates"]), int(bootstrap["seed"])
    per_example, runs = pd.read_parquet(scores), pd.read_parquet(matrix)
    kept, dropped = per_example, without_collapsed(per_example, runs)
    declared, other = (dropped, kept) if cfg["collapsed_runs"] == "drop" else (kept, dropped)
    looks = [read_json(p) for p in interims or []]
    model_waves = waves or {}
    untested = untested_arms(variants, calibration)
    comps, variances = analyse_by_model(declared, replicates, seed, cfg, groups, model_waves, looks, untested=untested,
                                        families=families)
    if len(collapsed_runs(runs)):
        alt, _ = analyse_by_model(other, replicates, seed, cfg, groups, model_waves, looks, apply=False,
                                  untested=untested, families=families)
        other_rule = alt[alt["family"] != "exploratory"].assign(collapsed_runs="keep" if other is kept else "drop")
    else:
        other_rule = pd.DataFrame(columns=[*comps.columns, "collapsed_runs"])
    agg = pd.concat([aggregate_of(m, groups.get(model)) for model, m in runs.groupby("model")], ignore_index=True)
    outputs = [(agg, aggregate), (comps, comparisons), (variances, run_variance), (other_rule, sensitivity)]
    for df, path in outputs:
        if path:
            with atomic_path(path) as tmp:
                df.to_csv(tmp, index=False)


def analyse_by_model(scores: pd.DataFrame, replicates: int, seed: int, cfg: dict, groups: dict,
                     model_waves: dict[str, list[list[int]]], looks: list[dict], apply: bool = True,
                     untested: dict | None = None, families: dict | None = None):
    """`analyse` per model, each at the level of the look its waves ended at (study.waves or the model's
    own, xlt/workflow/designs.py; one wave: report.alpha); with `apply`, a family a model decided at an earlier look
    keeps that look's verdicts (xlt/analysis/sequential.py). Holm runs within family and model either way, so this
    equals one `analyse` of every model when no model has waves."""
    from xlt.analysis.sequential import apply_looks, final_look, look_levels

    comps, variances = [], []
    for model, sub in scores.groupby("model", sort=True):
        waves, mine = model_waves.get(model) or [[]], [rec for rec in looks if rec.get("model") == model]
        model_cfg = {**cfg, "confirmatory": list((families or {}).get(model, cfg.get("confirmatory", ())))}
        if len(waves) > 1:  # seeds in waves: the spent level of the model's last look
            levels = look_levels(waves, cfg["alpha"], cfg["spending"])
            end = final_look(mine, len(waves))
            model_cfg = {**model_cfg, "alpha": levels[end - 1]}
        comp, var = analyse(sub, replicates, seed, model_cfg, groups, untested)
        if apply and len(waves) > 1:
            comp = apply_looks(comp, mine, end, levels)
        comps.append(comp)
        variances.append(var)
    return pd.concat(comps, ignore_index=True), pd.concat(variances, ignore_index=True)


def analyse(scores: pd.DataFrame, replicates: int, seed: int, cfg: dict, groups: dict, untested: dict | None = None):
    """(comparisons, run-variance table) of per-example scores: per target and model; Holm across both
    targets and every endpoint of a family, or the declared primary target only (the other target's
    tests become exploratory). format_matched pools each target's intermediate tasks of its own format
    (the task registry's); `untested`: arms whose contrasts are `not tested`."""
    import time

    from xlt.analysis.comparisons import adjust_families, comparisons
    from xlt.analysis.report import PRIMARY
    from xlt.data.tasks import get_task
    from xlt.workflow.plan import matched_tasks

    alpha, power, effect = cfg["alpha"], cfg["power"], cfg.get("effect_of_interest")
    margin = cfg["equivalence_margin"]
    frames, variances = [], []
    for (target, model), sub in scores.groupby(["target", "model"]):
        t0, diagnostics = time.perf_counter(), {}
        matched = matched_tasks(target, sub["intermediate"].unique())
        comp = comparisons(sub[sub["metric"] == PRIMARY[target]], replicates, seed,
                           parallel=get_task(target).parallel_test, groups=groups.get(model),
                           confirmatory=cfg["confirmatory"], alpha=alpha, power=power,
                           effect_of_interest=effect, equivalence_margin=margin,
                           endpoints=tuple(cfg["endpoints"]), pair_seeds=cfg["pair_seeds"],
                           diagnostics=diagnostics, untested=untested, matched=matched)
        print(f"{target} / {model}: {replicates} item-bootstrap replicates, {sub['example_id'].nunique()} "
              f"examples, {sub[['intermediate', 'variant', 'seed']].drop_duplicates().shape[0]} runs: "
              f"{time.perf_counter() - t0:.2f} s")
        frames.append(comp.assign(target=target, metric=PRIMARY[target]))
        if "run_variance" in diagnostics:
            variances.append(diagnostics["run_variance"].assign(target=target, model=model))
    comps = pd.concat(frames, ignore_index=True)
    if cfg.get("primary_target") is not None:
        comps.loc[comps["target"] != cfg["primary_target"], "family"] = "exploratory"
    variances = pd.concat(variances, ignore_index=True) if variances else pd.DataFrame(
        columns=["grouping", "group", "run_sd", "df", "levene_w", "levene_p", "target", "model"])
    return adjust_families(comps, alpha, power, effect, margin), variances


def figures(aggregate: str, comparisons: str, targets: dict[str, list[str]], test: list[str] = (),
            models: dict[str, str] | None = None, **outputs: str) -> None:
    """outputs: {heatmap_<target><key>, languages_<target><key>, gap<key>} -> png path, and the same keys
    with `_pdf` -> pdf path, per model (`models`: {model: key}; one model: key "" and its figures drawn
    from every row). `test`: each target's test parquet, in the order of `targets`, for the chance level
    per language."""
    from xlt.analysis import figures as fig

    agg, comps = pd.read_csv(aggregate), pd.read_csv(comparisons)
    chance = {t: chance_by_language(t, p, targets[t]) for t, p in zip(targets, test)}
    for model, key in (models or {None: ""}).items():
        a, c = (agg, comps) if model is None or len(models) == 1 else (agg[agg["model"] == model],
                                                                       comps[comps["model"] == model])
        for target, langs in targets.items():
            level = chance.get(target, {})
            _save_figure(fig.heatmap(c, target, level.get("avg-xx")), outputs, f"heatmap_{target}{key}")
            _save_figure(fig.language_intervals(c, target, langs, level), outputs, f"languages_{target}{key}")
        _save_figure(fig.gap_plot(a, list(targets)), outputs, f"gap{key}")


def _save_figure(figure, outputs: dict[str, str], name: str) -> None:
    """The PNG and the PDF of one figure, each written atomically (atomic_path keeps the suffix)."""
    from contextlib import ExitStack

    from xlt.analysis.figures import save

    with ExitStack() as stack:
        paths = [stack.enter_context(atomic_path(outputs[k])) for k in (name, f"{name}_pdf") if k in outputs]
        save(figure, *map(str, paths))


def chance_by_language(target: str, test_path: str, languages: list[str]) -> dict[str, float]:
    """{language: chance level in points} of the target's test set (xlt/data/chance.py: the best constant
    prediction), and `avg-xx`: its mean over the non-English languages."""
    from xlt.data.chance import chance_level

    test = pd.read_parquet(test_path)
    out = {lang: chance_level(target, test[test["language"] == lang])["value"] for lang in languages}
    others = [out[lang] for lang in languages if lang != "en"]
    if others:
        out["avg-xx"] = sum(others) / len(others)
    return out


def training_curves(runs: list[dict], train_logs: list[str], png: str, intermediate_metrics: list[str] | None = None,
                    pdf: str | None = None) -> None:
    """The intermediate runs' training curves (their `train_logs`) in one figure (`png`, and `pdf` when
    given); `intermediate_metrics`: the runs' dev_metrics.json, for the chance level of each task's dev
    selection score."""
    from xlt.analysis import figures as fig
    from xlt.analysis.curves import chance_by_task, collect

    chance = chance_by_task(runs, intermediate_metrics) if intermediate_metrics else None
    outputs = {"curves": png, **({"curves_pdf": pdf} if pdf else {})}
    _save_figure(fig.training_curves(collect(runs, train_logs), chance), outputs, "curves")


TABLES = {  # name: (title, what it holds) of the report's HTML tables
    "aggregate": ("Seed aggregates", "Mean and standard deviation over seeds per system, target, metric and language, "
                  "with the non-English average (avg-xx), the cross-lingual gap, and deltas vs the baseline and "
                  "vs standard."),
    "comparisons": ("Comparisons", "Every comparison (two-level paired bootstrap): delta, standard error, 95% CI, "
                    "p, Holm p within its family, verdict, minimum detectable effect; `system` rows give each "
                    "system's mean and CI."),
    "run_variance": ("Run-to-run variation", "The run sd of the non-English average pooled per group of arms, "
                     "with Levene's test of equal variance across the groups."),
    "sensitivity": ("Sensitivity: the other rule for collapsed runs", "The confirmatory rows under the rule for "
                    "collapsed runs that was not declared (empty when no run collapsed)."),
}


def report_pages(summary: str, summary_html: str, answer_html: str, **tables: str) -> None:
    """summary.md as an HTML page and its opening as the front-page fragment; each table of TABLES as an
    HTML page — `tables` holds each one's CSV (`<name>`) and page (`<name>_html`) — what `snakemake
    --report` displays."""
    from pathlib import Path

    from xlt.analysis.pages import answer_fragment, summary_page, table_page

    text = Path(summary).read_text(encoding="utf-8")
    pages = {summary_html: summary_page(text), answer_html: answer_fragment(text)}
    pages.update({tables[f"{name}_html"]: table_page(tables[name], *TABLES[name]) for name in TABLES})
    for path, content in pages.items():
        with atomic_path(path) as tmp:
            tmp.write_text(content, encoding="utf-8")


def summary(aggregate: str, comparisons: str, targets: dict[str, list[str]], replicates: int, demo: bool,
            markdown: str, report: dict | None = None, groups: dict | None = None, run_variance: str | None = None,
            sensitivity: str | None = None, preregistration: str | None = None, declaration: dict | None = None,
            declared: str | None = None, matrix: str | None = None, interims: list[str] | None = None,
            waves: dict[str, list[list[int]]] | None = None, calibration: list[str] | None = None,
            selection: list[str] | None = None, span_ceiling: list[str] = ()) -> None:
    """results/report/summary.md (`markdown`) from the statistics' CSVs. `groups`: the language groups block
    of the study's model family ({source, groups}) or None; `declaration`: the current config's confirmatory
    declaration, checked against the `preregistration` file (`declared`, its hash when the DAG was built, is
    not read: a param so that a re-declaration re-runs the summary); `waves`: {model: its waves};
    `interims`: every interim look's file (each model's waves 1 .. K - 1); a model's looks up to the one its
    statistics ended at (comparisons.csv's `look`) are stated with what each decided; `calibration`,
    `selection`: the radii and training values chosen on English dev, every grid point shown; `span_ceiling`:
    [results/report/span_ceiling.csv] or [], shown beside its target's table."""
    import time
    from pathlib import Path

    from xlt.analysis.preregistration import check
    from xlt.analysis.report import summary_markdown

    agg, comps = pd.read_csv(aggregate), pd.read_csv(comparisons, keep_default_na=False, na_values=[""])
    comps["verdict"] = comps["verdict"].fillna("")
    optional = lambda path: pd.read_csv(path) if path and Path(path).exists() and Path(path).stat().st_size > 1 else None
    prereg = check(preregistration, declaration) if preregistration and Path(preregistration).exists() \
        and declaration is not None else None
    collapsed = None
    if matrix:
        from xlt.analysis.matrix import collapsed_runs

        collapsed = collapsed_runs(pd.read_parquet(matrix))
    choices = []
    if calibration:
        from xlt.workflow.calibration import calibration_table

        choices += ["Perturbation radii (mean ± SE over seeds; each variant trains at the best non-zero radius — "
                    "radius 0, the control, is compared, never chosen):", "", calibration_table(calibration), ""]
    if selection:
        from xlt.workflow.selection import selection_table

        choices += ["Training keys:", "", selection_table(selection), ""]
    text = summary_markdown(agg, {t: comps[comps["target"] == t] for t in targets}, targets, int(replicates),
                            bool(demo), report, groups or None, variances=optional(run_variance),
                            preregistration=prereg, sensitivity=optional(sensitivity), collapsed=collapsed,
                            now=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), choices="\n".join(choices).strip(),
                            span_ceiling=pd.read_csv(span_ceiling[0]) if span_ceiling else None)
    for model, model_waves in sorted((waves or {}).items()):
        if len(model_waves) < 2:
            continue
        from xlt.analysis.report import looks_section

        mine = comps[comps["model"] == model]
        cfg = report or {}
        end = int(mine["look"].max()) if "look" in mine and mine["look"].notna().any() else 1
        looks = sorted((rec for rec in map(read_json, (p for p in interims or [] if Path(p).exists()))
                        if rec.get("model") == model and rec["wave"] <= min(end, len(model_waves) - 1)),
                       key=lambda rec: rec["wave"])
        text += "\n\n" + looks_section(looks, model_waves, cfg["alpha"], cfg["spending"],
                                        model if len(waves) > 1 else None)
    with atomic_path(markdown) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def span_ceiling(runs: list[dict], features: list[str], data: list[str], model_dirs: list[str],
                 qa: dict[str, dict], feature_cfg: dict[str, dict], ceiling: str) -> None:
    """results/report/span_ceiling.csv: per (model, span-QA target, language) the oracle EM/F1 through the
    target's featurised test split at the study's settings, and the shares it loses (no model is run).
    `runs`: [{model, target, languages}], aligned with the three path lists."""
    from xlt.model.oracle import COLUMNS, ceiling_table
    from xlt.model.lengths import resolve
    from xlt.model.modeling import load_tokenizer

    tables = []
    for run, feats_path, data_path, model_dir in zip(runs, features, data, model_dirs, strict=True):
        feats, examples = pd.read_parquet(feats_path), pd.read_parquet(data_path)
        measured = feats.attrs.get("lengths")
        where = f"{run['model']}/{run['target']}"
        options = resolve(qa[run["target"]], measured, f"qa options of {where}")
        cfg = resolve(feature_cfg[run["target"]], measured, f"features of {where}")
        shares = (measured or {}).get("coverage", {})
        how = ("auto: " + ", ".join(f"{k} covers {100 * v:g}% of English train" for k, v in sorted(shares.items()))
               if shares else "as configured")
        table = ceiling_table(examples, feats, load_tokenizer(model_dir), list(run["languages"]),
                              qa=options, features_cfg=cfg, lengths=how)
        tables.append(table.assign(model=run["model"], target=run["target"]))
    with atomic_path(ceiling) as tmp:
        pd.concat(tables, ignore_index=True)[COLUMNS].to_csv(tmp, index=False)
