# Intermediate-task training: {model} x {task} x {variant} x {seed}, and the multi-task mix
# (study.multitask_tasks, default: all study.intermediate tasks; one shared body, one head per task).


rule train_intermediate:
    input:
        unpack(lambda wc: plan.task_files(wc.model, [wc.task])),
        init=model_dir("{model}"),
        calibration=lambda wc: calibration_input(wc.model, wc.variant),
        selection=lambda wc: selection_input(wc.model, "intermediate", wc.task),
    output:
        checkpoint=directory(plan.intermediate_file(*INTER, "checkpoint")),
        metrics=plan.intermediate_file(*INTER, "dev_metrics.json"),
        train_log=plan.intermediate_file(*INTER, "train_log.jsonl"),
    params:
        **step("xlt.steps.train:fine_tune"),
        stage="intermediate",
        tasks=lambda wc: [wc.task],
        training=lambda wc: training_config(config, "intermediate", wc.task, wc.model),
        qa=lambda wc: qa_by_task([wc.task]),
        variant=intermediate_variant,
    wildcard_constraints:
        variant=INTERMEDIATE_VARIANT,
    resources:
        gpu=1,
        runtime=job_runtime("intermediate"),
        mem_mb=job_mem_mb,
    log:
        "results/logs/train_intermediate/{model}/{task}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_intermediate/{model}/{task}/{variant}/seed{seed}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"


rule train_multitask:
    input:
        unpack(lambda wc: plan.task_files(wc.model, multitask_tasks(wc.model))),
        init=model_dir("{model}"),
        calibration=lambda wc: calibration_input(wc.model, wc.variant),
        selection=lambda wc: selection_input(wc.model, "intermediate", plan.MULTITASK),
    output:
        checkpoint=directory(plan.intermediate_file(*MULTI, "checkpoint")),
        metrics=plan.intermediate_file(*MULTI, "dev_metrics.json"),
        train_log=plan.intermediate_file(*MULTI, "train_log.jsonl"),
    params:
        **step("xlt.steps.train:fine_tune"),
        stage="intermediate",
        tasks=lambda wc: multitask_tasks(wc.model),
        training=lambda wc: training_config(config, "intermediate", plan.MULTITASK, wc.model),
        mixing=mixing_config(config),
        qa=lambda wc: qa_by_task(multitask_tasks(wc.model)),
        variant=intermediate_variant,
    wildcard_constraints:
        variant=INTERMEDIATE_VARIANT,
    resources:
        gpu=1,
        runtime=job_runtime("intermediate"),
        mem_mb=job_mem_mb,
    log:
        "results/logs/train_multitask/{model}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_multitask/{model}/{variant}/seed{seed}.tsv"
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/step.py"
