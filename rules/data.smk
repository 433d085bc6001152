# Datasets (normalised parquet per split) and model snapshots. Downloads run on the submit host.

localrules:
    snapshot_model,
    copy_local_model,
    prepare_dataset,
    download,


rule build_demo_fixtures:
    output:
        fixtures=[f"{DEMO_FIXTURES}/{t}/{s}.parquet" for t, task in REGISTRY.items() for s in task.parts],
    params:
        **step("xlt.steps.data:build_demo_fixtures"),
        seed=config.get("demo_fixtures_seed", 0),
    log:
        "results/logs/build_demo_fixtures/all.log",
    benchmark:
        "results/benchmarks/build_demo_fixtures/all.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


rule prepare_dataset:
    input:
        dataset_input,
    output:
        data=data("{task}", "{split}"),
    params:
        **step("xlt.steps.data:prepare_dataset"),
        source=prepared_source,
    log:
        "results/logs/prepare_dataset/{task}/{split}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{task}/{split}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


rule snapshot_model:
    output:
        model_dir=directory(model_dir("{model}")),
    wildcard_constraints:
        model=one_of(models_of_kind("hub")),
    params:
        **step("xlt.steps.data:snapshot_model"),
        repo=lambda wc: MODELS[wc.model]["hub"],
        revision=lambda wc: model_revision(config, wc.model),
    log:
        "results/logs/snapshot_model/{model}.log",
    benchmark:
        "results/benchmarks/snapshot_model/{model}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


rule copy_local_model:
    output:
        model_dir=directory(model_dir("{model}")),
    wildcard_constraints:
        model=one_of(models_of_kind("local")),
    params:
        **step("xlt.steps.data:copy_local_model"),
        source=lambda wc: MODELS[wc.model]["local"],
    log:
        "results/logs/copy_local_model/{model}.log",
    benchmark:
        "results/benchmarks/copy_local_model/{model}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


rule build_demo_model:
    output:
        model_dir=directory(model_dir("{model}")),
    wildcard_constraints:
        model=one_of(models_of_kind("demo")),
    params:
        **step("xlt.steps.data:build_demo_model"),
        spec=lambda wc: canonical(MODELS[wc.model]["demo"]),
        corpus_seed=config.get("demo_fixtures_seed", 0),
    log:
        "results/logs/build_demo_model/{model}.log",
    benchmark:
        "results/benchmarks/build_demo_model/{model}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


# `auto` answer and question lengths (qa.max_answer_length, features.max_query_length) of a span-QA task:
# measured with the model's tokenizer on the task's English train split only (strict zero-shot).
rule measure_lengths:
    input:
        data=data("{task}", "train"),
        model_dir=model_dir("{model}"),
    output:
        lengths=plan.lengths_file("{model}", "{task}"),
    params:
        **step("xlt.steps.data:measure_lengths"),
        coverage=auto_coverage(config),
    wildcard_constraints:
        task=one_of(t for t, task in REGISTRY.items() if task.format == "span_qa"),
    log:
        "results/logs/measure_lengths/{model}/{task}.log",
    benchmark:
        "results/benchmarks/measure_lengths/{model}/{task}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


rule featurize:
    input:
        unpack(featurize_inputs),
    output:
        features=features("{model}", "{task}", "{split}"),
    params:
        **step("xlt.steps.data:featurize"),
        feature_cfg=lambda wc: feature_config(config, wc.task),
    log:
        "results/logs/featurize/{model}/{task}/{split}.log",
    benchmark:
        "results/benchmarks/featurize/{model}/{task}/{split}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


# On a login node with internet: `snakemake --cores 1 download` fetches every dataset split and model
# snapshot the config needs (all localrules); the cluster run after it needs no network.
rule download:
    input:
        plan.download_files(config),
