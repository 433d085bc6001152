# Datasets (normalised parquet per split) and model snapshots. Downloads run on the submit host.

localrules:
    snapshot_model,
    copy_local_model,
    prepare_dataset,
    download,


DEMO_FIXTURES = [f"results/demo/fixtures/{t}/{s}.parquet" for t, task in REGISTRY.items() for s in task.parts]


rule build_demo_fixtures:
    output:
        DEMO_FIXTURES,
    params:
        code=CODE["build_demo_fixtures.py"],
        seed=config.get("demo_fixtures_seed", 0),
    log:
        logs("build_demo_fixtures", "all")["log"],
    benchmark:
        logs("build_demo_fixtures", "all")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/build_demo_fixtures.py"


rule prepare_dataset:
    input:
        dataset_input,
    output:
        data("{task}", "{split}"),
    params:
        code=CODE["prepare_dataset.py"],
        source=lambda wc: dataset_source(config, wc.task),
    log:
        logs("prepare_dataset", "{task}/{split}")["log"],
    benchmark:
        logs("prepare_dataset", "{task}/{split}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/prepare_dataset.py"


rule snapshot_model:
    output:
        directory(model_dir("{model}")),
    wildcard_constraints:
        model=one_of(models_of_kind("hub")),
    params:
        code=CODE["snapshot_model.py"],
        repo=lambda wc: MODELS[wc.model]["hub"],
        revision=lambda wc: model_revision(config, wc.model),
    log:
        logs("snapshot_model", "{model}")["log"],
    benchmark:
        logs("snapshot_model", "{model}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/snapshot_model.py"


rule copy_local_model:
    output:
        directory(model_dir("{model}")),
    wildcard_constraints:
        model=one_of(models_of_kind("local")),
    params:
        code=CODE["copy_local_model.py"],
        source=lambda wc: MODELS[wc.model]["local"],
    log:
        logs("copy_local_model", "{model}")["log"],
    benchmark:
        logs("copy_local_model", "{model}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/copy_local_model.py"


rule build_demo_model:
    output:
        directory(model_dir("{model}")),
    wildcard_constraints:
        model=one_of(models_of_kind("demo")),
    params:
        code=CODE["build_demo_model.py"],
        spec=lambda wc: canonical(MODELS[wc.model]["demo"]),
        corpus_seed=config.get("demo_fixtures_seed", 0),
    log:
        logs("build_demo_model", "{model}")["log"],
    benchmark:
        logs("build_demo_model", "{model}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/build_demo_model.py"


# `auto` answer and question lengths (qa.max_answer_length, features.max_query_length) of a span-QA task:
# measured with the model's tokenizer on the task's English train split only (strict zero-shot).
rule measure_lengths:
    input:
        data=data("{task}", "train"),
        model=model_dir("{model}"),
    output:
        plan.lengths_file("{model}", "{task}"),
    params:
        code=CODE["measure_lengths.py"],
        coverage=auto_coverage(config),
    wildcard_constraints:
        task=one_of(t for t, task in REGISTRY.items() if task.format == "span_qa"),
    log:
        logs("measure_lengths", "{model}/{task}")["log"],
    benchmark:
        logs("measure_lengths", "{model}/{task}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/measure_lengths.py"


rule featurize:
    input:
        unpack(featurize_inputs),
    output:
        features("{model}", "{task}", "{split}"),
    params:
        code=CODE["featurize.py"],
        features=lambda wc: feature_config(config, wc.task),
    log:
        logs("featurize", "{model}/{task}/{split}")["log"],
    benchmark:
        logs("featurize", "{model}/{task}/{split}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/featurize.py"


# On a login node with internet: `snakemake --cores 1 download` fetches every dataset split and model
# snapshot the config needs (all localrules); the cluster run after it needs no network.
rule download:
    input:
        plan.download_files(config),
