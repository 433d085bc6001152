# The tidy results matrix: one row per (model, intermediate, variant, target, seed, language, metric).

# Seeds in waves (study.waves): the interim look after each wave but the last; the next wave's jobs join
# the DAG through the input functions of rules/common.smk (runs_made) while the look leaves a family open.
checkpoint interim:
    input:
        predictions=lambda wc: run_eval_files(model_runs_made(plan.target_runs(config), wc.model, wc.wave), "predictions"),
        metrics=lambda wc: run_eval_files(model_runs_made(plan.target_runs(config), wc.model, wc.wave), "metrics"),
        target_dev=lambda wc: [plan.target_file(**r, name="dev_metrics.json")
                               for r in model_runs_made(plan.target_runs(config), wc.model, wc.wave)],
        test=[data(t, "test") for t in STUDY["targets"]],
    output:
        plan.interim_file("{model}", "{wave}"),
    params:
        code=CODE["interim.py"],
        runs=lambda wc: model_runs_made(plan.target_runs(config), wc.model, wc.wave),
        waves=lambda wc: WAVES[wc.model],
        languages=STUDY["targets"],
        bootstrap=canonical(config.get("bootstrap", {"replicates": 10000, "seed": 0})),
        report=report_config(config),
        groups=language_groups(config),
    wildcard_constraints:
        wave=r"\d+",
    log:
        logs("interim", "{model}/wave{wave}")["log"],
    benchmark:
        logs("interim", "{model}/wave{wave}")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/interim.py"


rule matrix:
    input:
        target=lambda wc: run_eval_files(runs_made(plan.target_runs(config)), "metrics"),
        intermediate=lambda wc: [plan.intermediate_file(**r, name="dev_metrics.json")
                                 for r in runs_made(plan.intermediate_runs(config))],
        # English dev of each target run: the `collapsed` flag
        target_dev=lambda wc: [plan.target_file(**r, name="dev_metrics.json") for r in runs_made(plan.target_runs(config))],
    output:
        parquet="results/matrix.parquet",
        csv="results/matrix.csv",
    params:
        code=CODE["build_matrix.py"],
    log:
        logs("matrix", "all")["log"],
    benchmark:
        logs("matrix", "all")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/build_matrix.py"


rule example_scores:
    input:
        predictions=lambda wc: run_eval_files(runs_made(plan.target_runs(config)), "predictions"),
        test=[data(t, "test") for t in STUDY["targets"]],
    output:
        "results/report/example_scores.parquet",
    params:
        code=CODE["example_scores.py"],
        runs=lambda wc: runs_made(plan.target_runs(config)),
        languages=STUDY["targets"],
    log:
        logs("example_scores", "all")["log"],
    benchmark:
        logs("example_scores", "all")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/example_scores.py"


rule statistics:
    input:
        scores="results/report/example_scores.parquet",
        matrix="results/matrix.parquet",
        interims=interims_made,  # the looks made (study.waves): the final level and earlier decisions
    output:
        aggregate=report("results/report/aggregate.csv", caption="../report/aggregate.rst", category="Tables"),
        comparisons=report("results/report/comparisons.csv", caption="../report/comparisons.rst", category="Tables"),
        run_variance="results/report/run_variance.csv",
        sensitivity="results/report/sensitivity.csv",
    params:
        code=CODE["statistics.py"],
        bootstrap=canonical(config.get("bootstrap", {"replicates": 10000, "seed": 0})),
        report=report_config(config),
        groups=language_groups(config),
        waves=WAVES,
    log:
        logs("statistics", "all")["log"],
    benchmark:
        logs("statistics", "all")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/statistics.py"


rule figures:
    input:
        aggregate="results/report/aggregate.csv",
        comparisons="results/report/comparisons.csv",
    output:  # one set per model (results/report/figures/<model>/ when the study has several)
        **{f"heatmap_{t}{key}": report(f"{folder}/heatmap_{t}.png", caption="../report/heatmap.rst",
                                       category="Figures", subcategory=t) for t in STUDY["targets"]
           for key, folder in FIGURE_FOLDERS.items()},
        **{f"languages_{t}{key}": report(f"{folder}/languages_{t}.png", caption="../report/languages.rst",
                                         category="Figures", subcategory=t) for t in STUDY["targets"]
           for key, folder in FIGURE_FOLDERS.items()},
        **{f"gap{key}": report(f"{folder}/gap.png", caption="../report/gap.rst", category="Figures")
           for key, folder in FIGURE_FOLDERS.items()},
    params:
        code=CODE["figures.py"],
        targets=STUDY["targets"],
        models={model: key for model, key in zip(VIEWS, FIGURE_FOLDERS)},
    log:
        logs("figures", "all")["log"],
    benchmark:
        logs("figures", "all")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/figures.py"


rule training_curves:
    input:
        logs=lambda wc: [plan.intermediate_file(**r, name="train_log.jsonl") for r in runs_made(plan.intermediate_runs(config))],
    output:
        report("results/report/figures/training_curves.png", caption="../report/training_curves.rst",
               category="Figures"),
    params:
        code=CODE["training_curves.py"],
        runs=lambda wc: runs_made(plan.intermediate_runs(config)),
    log:
        logs("training_curves", "all")["log"],
    benchmark:
        logs("training_curves", "all")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/training_curves.py"


# The span-QA ceiling per target language (xlt/model/oracle.py): an oracle through each span-QA target's
# featurised test split at the study's settings — what no system can exceed; no model is run.
SPAN_CEILING = [{"model": m, "target": t, "languages": langs} for m, v in VIEWS.items()
                for t, langs in v["study"]["targets"].items() if REGISTRY[t].format == "span_qa"]


rule span_ceiling:
    input:
        features=[features(r["model"], r["target"], "test") for r in SPAN_CEILING],
        data=[data(r["target"], "test") for r in SPAN_CEILING],
        models=[model_dir(r["model"]) for r in SPAN_CEILING],
    output:
        "results/report/span_ceiling.csv",
    params:
        code=CODE["span_ceiling.py"],
        runs=SPAN_CEILING,
        qa={r["target"]: qa_options(config, r["target"]) for r in SPAN_CEILING},
        features={r["target"]: feature_config(config, r["target"]) for r in SPAN_CEILING},
    log:
        logs("span_ceiling", "all")["log"],
    benchmark:
        logs("span_ceiling", "all")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/span_ceiling.py"


rule summary:
    input:
        aggregate="results/report/aggregate.csv",
        comparisons="results/report/comparisons.csv",
        run_variance="results/report/run_variance.csv",
        sensitivity="results/report/sensitivity.csv",
        matrix="results/matrix.parquet",
        calibration=calibration.result_files(config),  # radii chosen on English dev
        selection=selection.result_files(config),      # training keys chosen on English dev
        span_ceiling=["results/report/span_ceiling.csv"] if SPAN_CEILING else [],
    output:
        report("results/report/summary.md", caption="../report/summary.rst", category="Answer"),
    params:
        code=CODE["summary.py"],
        targets=STUDY["targets"],
        replicates=config.get("bootstrap", {}).get("replicates", 10000),
        demo=any("demo" in MODELS[m] for m in STUDY["models"]),
        report=report_config(config),
        groups=study_language_groups(config),
        declaration=preregistration.declaration(config),
        # results/preregistration.json (written by the first evaluation; no rule's output): its hash, so
        # a re-declaration re-runs the summary and nothing else
        preregistration=PREREGISTRATION,
        declared=preregistration.expected_hash(config, PREREGISTRATION),
        waves=WAVES,
        # every look's file: the summary reads those the statistics used (its `look` column)
        interims=interim_files(),
    log:
        logs("summary", "all")["log"],
    benchmark:
        logs("summary", "all")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/summary.py"
