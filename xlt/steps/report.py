"""Steps of rules/report.smk: the tidy results matrix, per-example scores, statistics, figures, summary."""
from __future__ import annotations

import pandas as pd

from xlt.io import atomic_path, read_json, write_parquet


def build_matrix(metric_files: list[str], intermediate_files: list[str], out_parquet: str, out_csv: str,
                 target_dev_files: list[str] | None = None) -> pd.DataFrame:
    """Zero-shot target metrics (stage=target) and intermediate dev metrics (stage=intermediate); every row
    says whether its run collapsed on English dev (target_dev_files: the target runs' dev_metrics.json)."""
    from xlt.analysis.matrix import intermediate_records, matrix_from_records, target_dev_records

    records = each_input(metric_files, read_json) + \
        [r for rs in each_input(intermediate_files, intermediate_records) for r in rs]
    dev = {k: v for d in each_input(target_dev_files or [], lambda p: target_dev_records([p])) for k, v in d.items()}
    matrix = matrix_from_records(records, dev)
    write_parquet(matrix, out_parquet)
    with atomic_path(out_csv) as tmp:
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


def example_scores(runs: list[dict], languages: dict[str, list[str]], test_data: dict[str, str], out: str) -> None:
    """Per-example scores of every target run and language, from the saved predictions."""
    write_parquet(score_frame(runs, languages, test_data), out)


def score_frame(runs: list[dict], languages: dict[str, list[str]], test_data: dict[str, str]) -> pd.DataFrame:
    """The per-example scores of `runs` (example_scores' table, in memory)."""
    from xlt.workflow.plan import eval_file
    from xlt.analysis.report import example_scores as score_file

    frames = []
    tests = {t: pd.read_parquet(p) for t, p in test_data.items()}
    for run in runs:
        test = tests[run["target"]]
        for lang in languages[run["target"]]:
            preds = read_json(eval_file(**run, lang=lang, kind="predictions"))
            scores = score_file(preds, test[test["language"] == lang], run["target"])
            frames.append(scores.assign(model=run["model"], intermediate=run["inter"], variant=run["variant"],
                                        target=run["target"], seed=run["seed"], language=lang))
    return pd.concat(frames, ignore_index=True)


def interim(runs: list[dict], languages: dict[str, list[str]], test_data: dict[str, str], metric_files: list[str],
            target_dev_files: list[str], wave: int, waves: list[list[int]], replicates: int, seed: int, out: str,
            report_cfg: dict | None = None, groups: dict | None = None, variant_blocks: dict | None = None,
            calibration_paths: list[str] | None = None, families: list[str] | None = None) -> dict:
    """The look after wave `wave` of one model's waves (study.waves or the model's own; rules/report.smk's
    checkpoint, one per model): `analyse` of the model's runs of waves <= wave at the look's nominal level (xlt/analysis/sequential.py: Lan-DeMets spending of report.alpha), under
    the declared rule for collapsed runs; each confirmatory family is decided when every test has a verdict.
    It decides only which seeds are trained next — never anything a training job reads."""
    from xlt.analysis.comparisons import pooled_run_sd
    from xlt.io import write_json
    from xlt.analysis.matrix import matrix_from_records, target_dev_records, without_collapsed
    from xlt.analysis.sequential import look_levels, look_record

    cfg = dict(report_cfg or {})
    if families is not None:  # the model's own confirmatory families (its design's, else report.confirmatory)
        cfg["confirmatory"] = list(families)
    spending = cfg.get("spending", "obf")
    levels = look_levels(waves, cfg.get("alpha", 0.05), spending)
    scores = score_frame(runs, languages, test_data)
    if cfg.get("collapsed_runs", "keep") == "drop":
        matrix = matrix_from_records([read_json(p) for p in metric_files], target_dev_records(target_dev_files))
        scores = without_collapsed(scores, matrix)
    comps, variances = analyse(scores, replicates, seed, {**cfg, "alpha": levels[wave - 1]}, groups or {},
                               untested_arms(variant_blocks, calibration_paths))
    models = sorted({r["model"] for r in runs})
    record = {"model": models[0] if len(models) == 1 else None, **look_record(comps, wave, waves, levels, spending),
              # the run sd measured so far (python -m xlt.analysis.planning prices the remaining waves with it)
              "run_sd": [{"model": m, "target": t, "run_sd": sd, "df": df}
                         for (m, t), (sd, df) in pooled_run_sd(variances).items()]}
    write_json(record, out)
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


def statistics(scores_path: str, matrix_path: str, replicates: int, seed: int, out_aggregate: str,
               out_comparisons: str, report_cfg: dict | None = None, groups: dict | None = None,
               out_run_variance: str | None = None, out_sensitivity: str | None = None,
               sequential: dict | None = None, variant_blocks: dict | None = None,
               calibration_paths: list[str] | None = None, families: dict | None = None) -> None:
    """Seed aggregates, every comparison (`analyse`) under the declared rule for collapsed runs
    (report.collapsed_runs: keep | drop), the run-variance homogeneity diagnostic, and the confirmatory
    rows under the other rule (the sensitivity analysis; empty when no run collapsed).
    `groups`: {model: {group: [languages]}} (language-group averages). `sequential`: {waves, interims}
    when study.waves declares looks — the confirmatory tests are made at the level of the look the study
    ended at, and a family decided at an earlier look keeps that look's verdicts (xlt/analysis/sequential.py).
    `variant_blocks` ({model: {variant: block}}) and `calibration_paths`: which arms never perturbed (their
    contrasts are `not tested`). `families`: {model: its confirmatory families} (a model's design may
    declare its own; default report.confirmatory)."""
    from xlt.analysis.matrix import collapsed_runs, without_collapsed
    from xlt.analysis.report import aggregate

    cfg, groups = report_cfg or {}, groups or {}
    scores, matrix = pd.read_parquet(scores_path), pd.read_parquet(matrix_path)
    kept, dropped = scores, without_collapsed(scores, matrix)
    declared, other = (dropped, kept) if cfg.get("collapsed_runs", "keep") == "drop" else (kept, dropped)
    looks = [read_json(p) for p in (sequential or {}).get("interims", [])]
    model_waves = (sequential or {}).get("waves") or {}
    untested = untested_arms(variant_blocks, calibration_paths)
    comps, variances = analyse_by_model(declared, replicates, seed, cfg, groups, model_waves, looks, untested=untested,
                                        families=families)
    if len(collapsed_runs(matrix)):
        alt, _ = analyse_by_model(other, replicates, seed, cfg, groups, model_waves, looks, apply=False,
                                  untested=untested, families=families)
        sensitivity = alt[alt["family"] != "exploratory"].assign(
            collapsed_runs="keep" if other is kept else "drop")
    else:
        sensitivity = pd.DataFrame(columns=[*comps.columns, "collapsed_runs"])
    agg = pd.concat([aggregate(m, groups.get(model)) for model, m in matrix.groupby("model")], ignore_index=True)
    outputs = [(agg, out_aggregate), (comps, out_comparisons), (variances, out_run_variance),
               (sensitivity, out_sensitivity)]
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
            levels = look_levels(waves, cfg.get("alpha", 0.05), cfg.get("spending", "obf"))
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

    alpha, power, effect = cfg.get("alpha", 0.05), cfg.get("power", 0.8), cfg.get("effect_of_interest")
    margin = cfg.get("equivalence_margin", 1.0)
    frames, variances = [], []
    for (target, model), sub in scores.groupby(["target", "model"]):
        t0, diagnostics = time.perf_counter(), {}
        matched = matched_tasks(target, sub["intermediate"].unique())
        comp = comparisons(sub[sub["metric"] == PRIMARY[target]], replicates, seed,
                           parallel=get_task(target).parallel_test, groups=groups.get(model),
                           confirmatory=cfg.get("confirmatory", ()), alpha=alpha, power=power,
                           effect_of_interest=effect, equivalence_margin=margin,
                           endpoints=tuple(cfg.get("endpoints", ["avg-xx"])), pair_seeds=cfg.get("pair_seeds", True),
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


def matched_tasks(target: str, intermediates) -> list[str]:
    """The intermediate tasks whose format (the task registry's) is the target's: sentence-pair
    classification for PAWS-X (MNLI, QQP, ANLI+), span QA for TyDiQA (SQuAD, SQuAD 2.0)."""
    from xlt.data.tasks import REGISTRY, get_task

    fmt = get_task(target).format
    return sorted(t for t in intermediates if t in REGISTRY and get_task(t).format == fmt)


def figures(aggregate_path: str, comparisons_path: str, targets: dict[str, list[str]], outputs: dict[str, str],
            models: dict[str, str] | None = None, test_data: dict[str, str] | None = None) -> None:
    """outputs: {heatmap_<target><key>, languages_<target><key>, gap<key>} -> png path, and the same keys
    with `_pdf` -> pdf path, per model (`models`: {model: key}; one model: key "" and its figures drawn
    from every row). `test_data`: {target: test parquet}, for the chance level per language."""
    from xlt.analysis import figures as fig

    agg, comps = pd.read_csv(aggregate_path), pd.read_csv(comparisons_path)
    chance = {t: chance_by_language(t, p, targets[t]) for t, p in (test_data or {}).items()}
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


def training_curves(runs: list[dict], logs: list[str], out: str, metrics: list[str] | None = None,
                    out_pdf: str | None = None) -> None:
    """The intermediate runs' training curves in one figure (PNG, and PDF when `out_pdf`); `metrics`:
    the runs' dev_metrics.json, for the chance level of each task's dev selection score."""
    from xlt.analysis import figures as fig
    from xlt.analysis.curves import chance_by_task, collect

    chance = chance_by_task(runs, metrics) if metrics else None
    outputs = {"curves": out, **({"curves_pdf": out_pdf} if out_pdf else {})}
    _save_figure(fig.training_curves(collect(runs, logs), chance), outputs, "curves")


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


def report_pages(summary_path: str, tables: dict[str, str], out_summary: str, out_answer: str,
                 out_tables: dict[str, str]) -> None:
    """summary.md as an HTML page and its opening as the front-page fragment; each CSV of `tables`
    ({name: csv}) as an HTML table page (out_tables: {name: html}) — what `snakemake --report` displays."""
    from pathlib import Path

    from xlt.analysis.pages import answer_fragment, summary_page, table_page

    text = Path(summary_path).read_text(encoding="utf-8")
    pages = {out_summary: summary_page(text), out_answer: answer_fragment(text)}
    pages.update({out_tables[name]: table_page(csv, *TABLES[name]) for name, csv in tables.items()})
    for path, content in pages.items():
        with atomic_path(path) as tmp:
            tmp.write_text(content, encoding="utf-8")


def summary(aggregate_path: str, comparisons_path: str, targets: dict[str, list[str]], replicates: int,
            demo: bool, out: str, report_cfg: dict | None = None, groups: dict | None = None,
            run_variance_path: str | None = None, sensitivity_path: str | None = None,
            preregistration_path: str | None = None, declaration: dict | None = None,
            matrix_path: str | None = None, interim_paths: list[str] | None = None,
            waves: dict[str, list[list[int]]] | None = None, calibration_paths: list[str] | None = None,
            selection_paths: list[str] | None = None, span_ceiling_path: str | None = None) -> None:
    """`groups`: the language groups block of the study's model family ({source, groups}) or None;
    `declaration`: the current config's confirmatory declaration, checked against the preregistration;
    `waves`: {model: its waves}; `interim_paths`: every interim look's file (each model's waves 1 .. K - 1);
    a model's looks up to the one its statistics ended at (comparisons.csv's `look`) are stated with what each decided; `calibration_paths`,
    `selection_paths`: the radii and training values chosen on English dev, every grid point shown;
    `span_ceiling_path`: results/report/span_ceiling.csv, shown beside its target's table."""
    import time
    from pathlib import Path

    from xlt.analysis.preregistration import check
    from xlt.analysis.report import summary_markdown

    agg, comps = pd.read_csv(aggregate_path), pd.read_csv(comparisons_path, keep_default_na=False,
                                                          na_values=[""])
    comps["verdict"] = comps["verdict"].fillna("")
    optional = lambda path: pd.read_csv(path) if path and Path(path).exists() and Path(path).stat().st_size > 1 else None
    prereg = check(preregistration_path, declaration) if preregistration_path and Path(preregistration_path).exists() \
        and declaration is not None else None
    sensitivity = optional(sensitivity_path)
    collapsed = None
    if matrix_path:
        from xlt.analysis.matrix import collapsed_runs

        collapsed = collapsed_runs(pd.read_parquet(matrix_path))
    choices = []
    if calibration_paths:
        from xlt.workflow.calibration import calibration_table

        choices += ["Perturbation radii (mean ± SE over seeds; each variant trains at the best non-zero radius — "
                    "radius 0, the control, is compared, never chosen):", "", calibration_table(calibration_paths), ""]
    if selection_paths:
        from xlt.workflow.selection import selection_table

        choices += ["Training keys:", "", selection_table(selection_paths), ""]
    text = summary_markdown(agg, {t: comps[comps["target"] == t] for t in targets}, targets, replicates, demo,
                            report_cfg, groups, variances=optional(run_variance_path), preregistration=prereg,
                            sensitivity=sensitivity, collapsed=collapsed,
                            now=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), choices="\n".join(choices).strip(),
                            span_ceiling=pd.read_csv(span_ceiling_path) if span_ceiling_path else None)
    for model, model_waves in sorted((waves or {}).items()):
        if len(model_waves) < 2:
            continue
        from xlt.analysis.report import looks_section

        mine = comps[comps["model"] == model]
        cfg = report_cfg or {}
        end = int(mine["look"].max()) if "look" in mine and mine["look"].notna().any() else 1
        looks = sorted((rec for rec in map(read_json, (p for p in interim_paths or [] if Path(p).exists()))
                        if rec.get("model") == model and rec["wave"] <= min(end, len(model_waves) - 1)),
                       key=lambda rec: rec["wave"])
        text += "\n\n" + looks_section(looks, model_waves, cfg.get("alpha", 0.05), cfg.get("spending", "obf"),
                                        model if len(waves) > 1 else None)
    with atomic_path(out) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def span_ceiling(runs: list[dict], features_paths: list[str], data_paths: list[str], model_dirs: list[str],
                 qa: dict[str, dict], features_cfg: dict[str, dict], out: str) -> None:
    """results/report/span_ceiling.csv: per (model, span-QA target, language) the oracle EM/F1 through the
    target's featurised test split at the study's settings, and the shares it loses (no model is run).
    `runs`: [{model, target, languages}], aligned with the three path lists."""
    from xlt.model.oracle import COLUMNS, ceiling_table
    from xlt.model.lengths import resolve
    from xlt.model.modeling import load_tokenizer

    tables = []
    for run, feats_path, data_path, model_dir in zip(runs, features_paths, data_paths, model_dirs):
        features, examples = pd.read_parquet(feats_path), pd.read_parquet(data_path)
        measured = features.attrs.get("lengths")
        where = f"{run['model']}/{run['target']}"
        options = resolve(qa[run["target"]], measured, f"qa options of {where}")
        cfg = resolve(features_cfg[run["target"]], measured, f"features of {where}")
        shares = (measured or {}).get("coverage", {})
        how = ("auto: " + ", ".join(f"{k} covers {100 * v:g}% of English train" for k, v in sorted(shares.items()))
               if shares else "as configured")
        table = ceiling_table(examples, features, load_tokenizer(model_dir), list(run["languages"]),
                              qa=options, features_cfg=cfg, lengths=how)
        tables.append(table.assign(model=run["model"], target=run["target"]))
    with atomic_path(out) as tmp:
        pd.concat(tables, ignore_index=True)[COLUMNS].to_csv(tmp, index=False)
