# The tidy results matrix: one row per (model, intermediate, variant, target, seed, language, metric).

# Seeds in waves (study.waves): the interim look after each wave but the last; the next wave's jobs join
# the DAG through the input functions of rules/common.smk (runs_made) while the look leaves a family open.
checkpoint interim:
    input:
        predictions=lambda wc: run_eval_files(look_runs(wc), "predictions"),
        eval_metrics=lambda wc: run_eval_files(look_runs(wc), "metrics"),
        target_dev=lambda wc: target_dev_files(look_runs(wc)),
        test=TEST_DATA,
        # arms that never perturb: `not tested`
        calibration=lambda wc: calibration.result_files(VIEWS[wc.model]),
    output:
        look=plan.interim_file("{model}", "{wave}"),
    params:
        **step("xlt.steps.report:interim"),
        runs=look_runs,
        waves=lambda wc: WAVES[wc.model],
        variants=lambda wc: variant_blocks([wc.model]),
        families=lambda wc: designs.confirmatory(config, wc.model),  # the model's own, else report.confirmatory
        languages=STUDY["targets"],
        bootstrap=canonical(config["bootstrap"]),
        report=report_config(config),
        groups=language_groups(config),
    wildcard_constraints:
        wave=r"\d+",
    log:
        "results/logs/interim/{model}/wave{wave}.log",
    benchmark:
        "results/benchmarks/interim/{model}/wave{wave}.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"


rule matrix:
    input:
        eval_metrics=lambda wc: run_eval_files(target_runs_made(), "metrics"),
        intermediate_metrics=lambda wc: intermediate_files_made("dev_metrics.json"),
        # English dev of each target run: the `collapsed` flag
        target_dev=lambda wc: target_dev_files(target_runs_made()),
    output:
        parquet="results/matrix.parquet",
        csv="results/matrix.csv",
    params:
        **step("xlt.steps.report:build_matrix"),
    log:
        "results/logs/matrix/all.log",
    benchmark:
        "results/benchmarks/matrix/all.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"


rule example_scores:
    input:
        predictions=lambda wc: run_eval_files(target_runs_made(), "predictions"),
        test=TEST_DATA,
    output:
        scores="results/report/example_scores.parquet",
    params:
        **step("xlt.steps.report:example_scores"),
        runs=lambda wc: target_runs_made(),
        languages=STUDY["targets"],
    log:
        "results/logs/example_scores/all.log",
    benchmark:
        "results/benchmarks/example_scores/all.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"


rule statistics:
    input:
        scores="results/report/example_scores.parquet",
        matrix="results/matrix.parquet",
        interims=interims_made,  # the looks made (study.waves): the final level and earlier decisions
        calibration=calibration.result_files(config),  # arms that never perturb: `not tested`
    output:  # in the HTML report as downloads; report_pages shows them as tables
        aggregate=report("results/report/aggregate.csv", caption="../report/aggregate.rst", category="Tables",
                         subcategory="CSV files (download)"),
        comparisons=report("results/report/comparisons.csv", caption="../report/comparisons.rst", category="Tables",
                           subcategory="CSV files (download)"),
        run_variance=report("results/report/run_variance.csv", caption="../report/run_variance.rst",
                            category="Tables", subcategory="CSV files (download)"),
        sensitivity=report("results/report/sensitivity.csv", caption="../report/sensitivity.rst", category="Tables",
                           subcategory="CSV files (download)"),
    params:
        **step("xlt.steps.report:statistics"),
        bootstrap=canonical(config["bootstrap"]),
        report=report_config(config),
        groups=language_groups(config),
        waves=WAVES,
        variants=variant_blocks(),
        families={m: designs.confirmatory(config, m) for m in VIEWS},
    log:
        "results/logs/statistics/all.log",
    benchmark:
        "results/benchmarks/statistics/all.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"


rule figures:
    input:
        aggregate="results/report/aggregate.csv",
        comparisons="results/report/comparisons.csv",
        test=TEST_DATA,  # the chance level per test language
    output:  # one set per model (results/report/figures/<model>/ when the study has several); PNG + PDF
        **{f"heatmap_{t}{key}": report(f"{folder}/heatmap_{t}.png", caption="../report/heatmap.rst",
                                       category="Figures", subcategory=t) for t in STUDY["targets"]
           for key, folder in FIGURE_FOLDERS.items()},
        **{f"languages_{t}{key}": report(f"{folder}/languages_{t}.png", caption="../report/languages.rst",
                                         category="Figures", subcategory=t) for t in STUDY["targets"]
           for key, folder in FIGURE_FOLDERS.items()},
        **{f"gap{key}": report(f"{folder}/gap.png", caption="../report/gap.rst", category="Figures")
           for key, folder in FIGURE_FOLDERS.items()},
        **{f"{name}_{t}{key}_pdf": f"{folder}/{name}_{t}.pdf" for name in ("heatmap", "languages")
           for t in STUDY["targets"] for key, folder in FIGURE_FOLDERS.items()},
        **{f"gap{key}_pdf": f"{folder}/gap.pdf" for key, folder in FIGURE_FOLDERS.items()},
    params:
        **step("xlt.steps.report:figures"),
        targets=STUDY["targets"],
        models={model: key for model, key in zip(VIEWS, FIGURE_FOLDERS)},
    log:
        "results/logs/figures/all.log",
    benchmark:
        "results/benchmarks/figures/all.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"


rule training_curves:
    input:
        train_logs=lambda wc: intermediate_files_made("train_log.jsonl"),
        # each run's dev_metrics.json: the chance level of its dev score
        intermediate_metrics=lambda wc: intermediate_files_made("dev_metrics.json"),
    output:
        png=report("results/report/figures/training_curves.png", caption="../report/training_curves.rst",
                   category="Figures"),
        pdf="results/report/figures/training_curves.pdf",
    params:
        **step("xlt.steps.report:training_curves"),
        runs=lambda wc: intermediate_runs_made(),
    log:
        "results/logs/training_curves/all.log",
    benchmark:
        "results/benchmarks/training_curves/all.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"


# The span-QA ceiling per target language (xlt/model/oracle.py): an oracle through each span-QA target's
# featurised test split at the study's settings — what no system can exceed; no model is run.
SPAN_CEILING = [{"model": m, "target": t, "languages": langs} for m, v in VIEWS.items()
                for t, langs in v["study"]["targets"].items() if REGISTRY[t].format == "span_qa"]


rule span_ceiling:
    input:
        features=[features(r["model"], r["target"], "test") for r in SPAN_CEILING],
        data=[data(r["target"], "test") for r in SPAN_CEILING],
        model_dirs=[model_dir(r["model"]) for r in SPAN_CEILING],
    output:
        ceiling="results/report/span_ceiling.csv",
    params:
        **step("xlt.steps.report:span_ceiling"),
        runs=SPAN_CEILING,
        qa={r["target"]: qa_options(config, r["target"]) for r in SPAN_CEILING},
        feature_cfg={r["target"]: feature_config(config, r["target"]) for r in SPAN_CEILING},
    log:
        "results/logs/span_ceiling/all.log",
    benchmark:
        "results/benchmarks/span_ceiling/all.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


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
        markdown=report("results/report/summary.md", caption="../report/summary.rst", category="Answer",
                        subcategory="Markdown (download)"),
    params:
        **step("xlt.steps.report:summary"),
        targets=STUDY["targets"],
        replicates=config["bootstrap"]["replicates"],
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
        "results/logs/summary/all.log",
    benchmark:
        "results/benchmarks/summary/all.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"


# What `snakemake --report` displays: the answer and the tables as HTML (a .md or .csv would be a download
# only), and the answer's opening for the report's front page (report/workflow.rst embeds it).
rule report_pages:
    input:
        summary="results/report/summary.md",
        aggregate="results/report/aggregate.csv",
        comparisons="results/report/comparisons.csv",
        run_variance="results/report/run_variance.csv",
        sensitivity="results/report/sensitivity.csv",
    output:
        summary_html=report("results/report/html/summary.html", caption="../report/summary.rst", category="Answer",
                            subcategory="Summary"),
        answer_html="results/report/html/answer.html",
        aggregate_html=report("results/report/html/aggregate.html", caption="../report/aggregate.rst",
                              category="Tables", subcategory="Tables"),
        comparisons_html=report("results/report/html/comparisons.html", caption="../report/comparisons.rst",
                                category="Tables", subcategory="Tables"),
        run_variance_html=report("results/report/html/run_variance.html", caption="../report/run_variance.rst",
                                 category="Tables", subcategory="Tables"),
        sensitivity_html=report("results/report/html/sensitivity.html", caption="../report/sensitivity.rst",
                                category="Tables", subcategory="Tables"),
    params:
        **step("xlt.steps.report:report_pages"),
    log:
        "results/logs/report_pages/all.log",
    benchmark:
        "results/benchmarks/report_pages/all.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/step.py"
