# Training keys chosen on English dev (xlt/workflow/selection.py): for each stage whose training blocks say
# `selected` (e.g. `learning_rate: selected`), standard runs per grid point and selection seed (101..) —
# intermediate: on study.selection.intermediate.task, from the pretrained model; target: on each target's
# English train, from every declared starting point ({start}: `none` = the pretrained model, or a task whose
# standard intermediate checkpoint at that seed train_intermediate makes) — scored on English dev; the
# best mean goes to results/selection/{model}/{stage}/{task}.json, which the stage's training jobs read.

SELECTIONS = selection.selections(config)
SELECT = ("{model}", "{stage}", "{task}", "{start}", "{point}", "{seed}")
SELECTED_STAGE = one_of(sorted({s for s, _ in SELECTIONS}))  # the stages with a `selected` value
SELECTED_TASK = one_of(sorted({t for _, t in SELECTIONS}))    # the tasks their choices are made on


if SELECTIONS:  # no `selected` value anywhere: no rules

    rule select_point:
        input:
            unpack(lambda wc: plan.task_files(wc.model, [wc.task])),
            init=lambda wc: model_dir(wc.model) if wc.start == plan.BASELINE else
                            plan.intermediate_file(wc.model, wc.start, "standard", wc.seed, "checkpoint"),
        output:
            checkpoint=temp(directory(plan.selection_file(*SELECT, "checkpoint"))),
            metrics=plan.selection_file(*SELECT, "dev_metrics.json"),
            train_log=plan.selection_file(*SELECT, "train_log.jsonl"),
        params:
            **step("xlt.steps.train:fine_tune"),
            stage="selection",  # the run's own stage (provenance); {stage} is the stage it selects for
            tasks=lambda wc: [wc.task],
            training=point_training,
            qa=lambda wc: qa_by_task([wc.task]),
            variant={"name": "standard", "block": {"method": "standard"}},
        wildcard_constraints:
            stage=SELECTED_STAGE,
            task=SELECTED_TASK,
            start=one_of([plan.BASELINE, *REGISTRY]),
            point=r"[a-z_]+=[0-9][0-9.e+-]*(,[a-z_]+=[0-9][0-9.e+-]*)*",
        resources:
            gpu=1,
            runtime=lambda wc, attempt: cluster.runtime_minutes(
                VIEWS[wc.model], wc.task, selection.for_runtime(point_training(wc)), {"method": "standard"}, attempt,
                train_token_stats(wc.model, wc.task)),
            mem_mb=job_mem_mb,
        log:
            "results/logs/select_point/{model}/{stage}/{task}/{start}/{point}/seed{seed}.log",
        benchmark:
            "results/benchmarks/select_point/{model}/{stage}/{task}/{start}/{point}/seed{seed}.tsv"
        conda:
            "../envs/training.yaml"
        script:
            "../workflow_scripts/step.py"


    rule select:
        input:
            points=lambda wc: [plan.selection_file(r["model"], r["stage"], r["task"], r["start"], r["point"], r["seed"],
                                                   "dev_metrics.json") for r in selection_points(wc)],
        output:
            result=plan.selection_result("{model}", "{stage}", "{task}"),
        params:
            **step("xlt.steps.calibration:select"),
            runs=selection_points,
            settings=lambda wc: selection.stage_settings(config, wc.stage, wc.task),
        wildcard_constraints:
            stage=SELECTED_STAGE,
            task=SELECTED_TASK,
        log:
            "results/logs/select/{model}/{stage}/{task}.log",
        benchmark:
            "results/benchmarks/select/{model}/{stage}/{task}.tsv"
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow_scripts/step.py"
