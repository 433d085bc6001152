# Intermediate-task training: {model} x {task} x {variant} x {seed}, and the multi-task mix
# (study.multitask_tasks, default: all study.intermediate tasks; one shared body, one head per task).


rule train_intermediate:
    input:
        init=model_dir("{model}"),
        tasks=lambda wc: plan.task_input_files(wc.model, [wc.task]),
        calibration=lambda wc: calibration_input(wc.model, wc.variant),
        selection=lambda wc: selection_input(wc.model, "intermediate", wc.task),
    output:
        checkpoint=directory(plan.intermediate_file(*INTER, "checkpoint")),
        metrics=plan.intermediate_file(*INTER, "dev_metrics.json"),
        train_log=plan.intermediate_file(*INTER, "train_log.jsonl"),
    params:
        code=CODE["train.py"],
        tasks=lambda wc: [wc.task],
        training=lambda wc: training_config(config, "intermediate", wc.task, wc.model),
        qa=lambda wc: qa_by_task([wc.task]),
        variant=lambda wc: {"name": wc.variant, "block": variant_block(config, wc.variant)},
    wildcard_constraints:
        variant=INTERMEDIATE_VARIANT,
    resources:
        gpu=1,
        runtime=job_runtime("intermediate"),
        mem_mb=job_mem_mb,
    log:
        logs("train_intermediate", "{model}/{task}/{variant}/seed{seed}")["log"],
    benchmark:
        logs("train_intermediate", "{model}/{task}/{variant}/seed{seed}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/train.py"


rule train_multitask:
    input:
        init=model_dir("{model}"),
        tasks=lambda wc: plan.task_input_files(wc.model, multitask_tasks(wc.model)),
        calibration=lambda wc: calibration_input(wc.model, wc.variant),
        selection=lambda wc: selection_input(wc.model, "intermediate", plan.MULTITASK),
    output:
        checkpoint=directory(plan.intermediate_file(*MULTI, "checkpoint")),
        metrics=plan.intermediate_file(*MULTI, "dev_metrics.json"),
        train_log=plan.intermediate_file(*MULTI, "train_log.jsonl"),
    params:
        code=CODE["train.py"],
        tasks=lambda wc: multitask_tasks(wc.model),
        training=lambda wc: training_config(config, "intermediate", plan.MULTITASK, wc.model),
        mixing=mixing_config(config),
        qa=lambda wc: qa_by_task(multitask_tasks(wc.model)),
        variant=lambda wc: {"name": wc.variant, "block": variant_block(config, wc.variant)},
    wildcard_constraints:
        variant=INTERMEDIATE_VARIANT,
    resources:
        gpu=1,
        runtime=job_runtime("intermediate"),
        mem_mb=job_mem_mb,
    log:
        logs("train_multitask", "{model}/{variant}/seed{seed}")["log"],
    benchmark:
        logs("train_multitask", "{model}/{variant}/seed{seed}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/train.py"
