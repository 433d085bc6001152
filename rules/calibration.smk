# Budget calibration on English dev (xlt/workflow/calibration.py): for each `budget: calibrated` variant, short
# runs of study.calibration.task per grid radius (radius 0 = the control) and seed, scored on its English
# dev split; the choice (best mean, kept only if it beats radius 0 by more than its SE) goes to
# results/calibration/{model}/{variant}.json, which that variant's training jobs read.

CALIBRATION = calibration.settings(config)
CALIBRATED = calibration.calibrated_variants(config)


if CALIBRATION:  # no calibration stage: no rules (the config check refuses calibrated variants then)

    rule calibrate_point:
        input:
            init=model_dir("{model}"),
            tasks=lambda wc: plan.task_input_files(wc.model, [CALIBRATION["task"]]),
            selection=lambda wc: selection_input(wc.model, "intermediate", CALIBRATION["task"]),
        output:
            checkpoint=temp(directory(plan.calibration_file("{model}", "{variant}", "{point}", "{seed}", "checkpoint"))),
            metrics=plan.calibration_file("{model}", "{variant}", "{point}", "{seed}", "dev_metrics.json"),
            train_log=plan.calibration_file("{model}", "{variant}", "{point}", "{seed}", "train_log.jsonl"),
        params:
            code=CODE["train.py"],
            tasks=[CALIBRATION["task"]],
            training=lambda wc: calibration.training(VIEWS[wc.model]),
            qa=qa_by_task([CALIBRATION["task"]]),
            variant=lambda wc: {"name": wc.variant, "block": calibration.point_block(config, wc.variant, wc.point)},
        wildcard_constraints:
            variant=one_of(CALIBRATED),
            point=r"[0-9][0-9.e+-]*",
        resources:
            gpu=1,
            runtime=lambda wc, attempt: cluster.runtime_minutes(
                VIEWS[wc.model], CALIBRATION["task"],
                selection.for_runtime(selection.upper_bound(config, "intermediate", calibration.training(VIEWS[wc.model]))),
                calibration.point_block(config, wc.variant, wc.point), attempt,
                train_token_stats(wc.model, CALIBRATION["task"])),
            mem_mb=job_mem_mb,
        log:
            logs("calibrate_point", "{model}/{variant}/{point}/seed{seed}")["log"],
        benchmark:
            logs("calibrate_point", "{model}/{variant}/{point}/seed{seed}")["benchmark"]
        conda:
            "../envs/training.yaml"
        script:
            "../workflow_scripts/train.py"


    rule calibrate:
        input:
            points=lambda wc: [plan.calibration_file(r["model"], r["variant"], r["point"], r["seed"], "dev_metrics.json")
                               for r in calibration.point_runs(config)
                               if (r["model"], r["variant"]) == (wc.model, wc.variant)],
        output:
            plan.calibration_result("{model}", "{variant}"),
        params:
            code=CODE["calibrate.py"],
            kind="calibration",
            runs=lambda wc: [r for r in calibration.point_runs(config) if (r["model"], r["variant"]) == (wc.model, wc.variant)],
            block=lambda wc: variant_block(config, wc.variant),
            settings=lambda wc: calibration.variant_settings(config, wc.variant),
        wildcard_constraints:
            variant=one_of(CALIBRATED),
        log:
            logs("calibrate", "{model}/{variant}")["log"],
        benchmark:
            logs("calibrate", "{model}/{variant}")["benchmark"]
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow_scripts/calibrate.py"
