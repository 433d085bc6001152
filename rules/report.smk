# The tidy results matrix: one row per (model, intermediate, variant, target, seed, language, metric).


rule matrix:
    input:
        target=plan.eval_metric_files(config),
        intermediate=plan.intermediate_metric_files(config),
    output:
        parquet="results/matrix.parquet",
        csv="results/matrix.csv",
    log:
        logs("matrix", "all")["log"],
    benchmark:
        logs("matrix", "all")["benchmark"]
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/build_matrix.py"
