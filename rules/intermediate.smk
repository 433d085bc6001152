# Intermediate-task training: {model} x {task} x {variant} x {seed}.


rule train_intermediate:
    input:
        init=model_dir("{model}"),
        train=features("{model}", "{task}", "train"),
        dev=features("{model}", "{task}", "dev"),
        dev_data=data("{task}", "dev"),
    output:
        checkpoint=directory(plan.intermediate_file(*INTER, "checkpoint")),
        metrics=plan.intermediate_file(*INTER, "dev_metrics.json"),
        train_log=plan.intermediate_file(*INTER, "train_log.jsonl"),
    params:
        training=lambda wc: training_config(config, "intermediate", wc.task),
        qa=lambda wc: qa_options(config, wc.task),
    resources:
        gpu=1,
    log:
        logs("train_intermediate", "{model}/{task}/{variant}/seed{seed}")["log"],
    benchmark:
        logs("train_intermediate", "{model}/{task}/{variant}/seed{seed}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/train.py"
