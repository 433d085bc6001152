# Target fine-tuning on English PAWS-X / TyDiQA-GoldP, from each intermediate checkpoint or from the
# pretrained model (`none`). Only English train/dev features are inputs (strict zero-shot).


def target_init(wc):
    if wc.inter == plan.BASELINE:
        return model_dir(wc.model)
    return plan.intermediate_dir(wc.model, wc.inter, wc.variant, wc.seed) + "/checkpoint"


def maybe_temp(path):
    return path if STUDY.get("keep_target_checkpoints") else temp(path)


rule train_target:
    input:
        init=target_init,
        train=features("{model}", "{target}", "train"),
        dev=features("{model}", "{target}", "dev"),
        dev_data=data("{target}", "dev"),
    output:
        checkpoint=maybe_temp(directory(plan.target_dir("{model}", "{inter}", "{variant}", "{target}", "{seed}") + "/checkpoint")),
        metrics=plan.target_dir("{model}", "{inter}", "{variant}", "{target}", "{seed}") + "/dev_metrics.json",
        train_log=plan.target_dir("{model}", "{inter}", "{variant}", "{target}", "{seed}") + "/train_log.jsonl",
    params:
        training=lambda wc: training_config(config, "target", wc.target),
        qa=lambda wc: qa_options(config, wc.target),
        task=lambda wc: wc.target,
    resources:
        gpu=1,
    log:
        logs("train_target", "{model}/{inter}/{variant}/{target}/seed{seed}")["log"],
    benchmark:
        logs("train_target", "{model}/{inter}/{variant}/{target}/seed{seed}")["benchmark"]
    conda:
        "../envs/training.yaml"
    script:
        "../workflow_scripts/train.py"
