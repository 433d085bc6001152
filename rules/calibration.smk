# Budget calibration on English dev (xlt/workflow/calibration.py): for each `budget: calibrated` variant, short
# runs of study.calibration.task per grid radius (radius 0 = the control) and seed, scored on its English
# dev split; the choice (best mean, kept only if it beats radius 0 by more than its SE) goes to
# results/calibration/{model}/{variant}.json, which that variant's training jobs read.

CALIBRATION = calibration.settings(config)
CALIBRATED = calibration.calibrated_variants(config)
CALIBRATED_VARIANT = one_of(CALIBRATED)
POINT = ("{model}", "{variant}", "{point}", "{seed}")


if CALIBRATION:  # no calibration stage: no rules (the config check refuses calibrated variants then)

    rule calibrate_point:
        input:
            unpack(lambda wc: plan.task_files(wc.model, [CALIBRATION["task"]])),
            init=model_dir("{model}"),
            selection=lambda wc: selection_input(wc.model, "intermediate", CALIBRATION["task"]),
        output:
            checkpoint=temp(directory(plan.calibration_file(*POINT, "checkpoint"))),
            metrics=plan.calibration_file(*POINT, "dev_metrics.json"),
            train_log=plan.calibration_file(*POINT, "train_log.jsonl"),
        params:
            **step("xlt.steps.train:fine_tune"),
            stage="calibration",
            tasks=[CALIBRATION["task"]],
            training=calibration_training,
            qa=qa_by_task([CALIBRATION["task"]]),
            variant=lambda wc: {"name": wc.variant, "block": point_block(wc)},
        wildcard_constraints:
            variant=CALIBRATED_VARIANT,
            point=r"[0-9][0-9.e+-]*",
        resources:
            gpu=1,
            runtime=lambda wc, attempt: cluster.runtime_minutes(
                VIEWS[wc.model], CALIBRATION["task"],
                selection.for_runtime(selection.upper_bound(config, "intermediate", calibration_training(wc))),
                point_block(wc), attempt, train_token_stats(wc.model, CALIBRATION["task"])),
            mem_mb=job_mem_mb,
        log:
            "results/logs/calibrate_point/{model}/{variant}/{point}/seed{seed}.log",
        benchmark:
            "results/benchmarks/calibrate_point/{model}/{variant}/{point}/seed{seed}.tsv"
        conda:
            "../envs/training.yaml"
        script:
            "../workflow_scripts/step.py"


    rule calibrate:
        input:
            points=lambda wc: [plan.calibration_file(r["model"], r["variant"], r["point"], r["seed"], "dev_metrics.json")
                               for r in calibration_points(wc)],
        output:
            result=plan.calibration_result("{model}", "{variant}"),
        params:
            **step("xlt.steps.calibration:calibrate"),
            runs=calibration_points,
            block=lambda wc: variant_block(config, wc.variant),
            settings=lambda wc: calibration.variant_settings(config, wc.variant),
        wildcard_constraints:
            variant=CALIBRATED_VARIANT,
        log:
            "results/logs/calibrate/{model}/{variant}.log",
        benchmark:
            "results/benchmarks/calibrate/{model}/{variant}.tsv"
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow_scripts/step.py"
