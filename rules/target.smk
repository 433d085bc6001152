# Target fine-tuning on English PAWS-X / TyDiQA-GoldP, from each intermediate checkpoint or from the
# pretrained model (`none`). Only English train/dev features are inputs (strict zero-shot).
# {variant} is the intermediate variant, or `<variant>+target` when it also applies here.


rule train_target:
    input:
        init=target_init,
        tasks=lambda wc: plan.task_input_files(wc.model, [wc.target]),
        calibration=lambda wc: calibration_input(wc.model, plan.split_variant(wc.variant)[1]),
        selection=lambda wc: selection_input(wc.model, "target", wc.target),
    output:
        checkpoint=maybe_temp(directory(plan.target_file(*TARGET, "checkpoint"))),
        metrics=plan.target_file(*TARGET, "dev_metrics.json"),
        train_log=plan.target_file(*TARGET, "train_log.jsonl"),
    params:
        code=CODE["train.py"],
        tasks=lambda wc: [wc.target],
        training=lambda wc: training_config(config, "target", wc.target, wc.model),
        qa=lambda wc: qa_by_task([wc.target]),
        transfer=transfer_config(config),
        variant=target_variant,
    resources:
        gpu=1,
        runtime=job_runtime("target"),
        mem_mb=job_mem_mb,
    log:
        logs("train_target", "{model}/{inter}/{variant}/{target}/seed{seed}")["log"],
    benchmark:
        logs("train_target", "{model}/{inter}/{variant}/{target}/seed{seed}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/train.py"
