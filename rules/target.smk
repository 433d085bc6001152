# Target fine-tuning on English PAWS-X / TyDiQA-GoldP, from each intermediate checkpoint or from the
# pretrained model (`none`), and the zero-shot evaluation on every language, in one job per run (one rule
# per target: train_target_<target>). Training reads only English train/dev features (strict zero-shot);
# the test split is read after training, by the evaluation. The checkpoint stays in the job's node-local
# tmpdir and is deleted once evaluated (xlt/steps/target.py) — never written to shared storage — unless
# study.keep_target_checkpoints makes it an output. {variant} is the intermediate variant, or
# `<variant>+target` when it also applies here. Predictions {id: prediction} and metrics per language are
# outputs, cached like every artifact.

for _target, _langs in STUDY["targets"].items():

    rule:
        name:
            f"train_target_{_target}"
        input:
            unpack(lambda wc: plan.task_files(wc.model, [wc.target])),
            init=target_init,
            calibration=lambda wc: calibration_input(wc.model, plan.split_variant(wc.variant)[1]),
            selection=lambda wc: selection_input(wc.model, "target", wc.target),
            test_features=features("{model}", "{target}", "test"),
            test_data=data("{target}", "test"),
        output:
            **({"checkpoint": directory(plan.target_file(*TARGET, "checkpoint"))}
               if STUDY.get("keep_target_checkpoints") else {}),
            metrics=plan.target_file(*TARGET, "dev_metrics.json"),
            train_log=plan.target_file(*TARGET, "train_log.jsonl"),
            predictions=[plan.eval_file(*TARGET, lang, "predictions") for lang in _langs],
            eval_metrics=[plan.eval_file(*TARGET, lang, "metrics") for lang in _langs],
        params:
            **step("xlt.steps.target:train_and_evaluate"),
            stage="target",
            tasks=lambda wc: [wc.target],
            training=target_training,
            qa=lambda wc: qa_by_task([wc.target]),
            transfer=transfer_config(config),
            variant=target_variant,
            run=target_run,
            languages=_langs,
            preregistration=PREREGISTRATION,  # the first target run declares (xlt/analysis/preregistration.py)
        wildcard_constraints:
            target=re.escape(_target),
        resources:
            gpu=1,
            runtime=job_runtime("target"),
            mem_mb=job_mem_mb,
        log:
            "results/logs/train_target/{model}/{inter}/{variant}/{target}/seed{seed}.log",
        benchmark:
            "results/benchmarks/train_target/{model}/{inter}/{variant}/{target}/seed{seed}.tsv"
        conda:
            "../envs/training.yaml"
        script:
            "../workflow_scripts/step.py"
