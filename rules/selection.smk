# Training keys chosen on English dev (xlt/workflow/selection.py): for each stage whose training blocks say
# `selected` (e.g. `learning_rate: selected`), short standard runs from the pretrained model per grid point
# and seed — intermediate: on study.selection.intermediate.task; target: on each target's English train —
# scored on the task's English dev split; the best mean goes to
# results/selection/{model}/{stage}/{task}.json, which the stage's training jobs read.

SELECTION = selection.settings(config)
SELECTIONS = selection.selections(config)


if SELECTIONS:  # no `selected` value anywhere: no rules

    rule select_point:
        input:
            init=model_dir("{model}"),
            tasks=lambda wc: plan.task_input_files(wc.model, [wc.task]),
        output:
            checkpoint=temp(directory(plan.selection_file("{model}", "{stage}", "{task}", "{point}", "{seed}", "checkpoint"))),
            metrics=plan.selection_file("{model}", "{stage}", "{task}", "{point}", "{seed}", "dev_metrics.json"),
            train_log=plan.selection_file("{model}", "{stage}", "{task}", "{point}", "{seed}", "train_log.jsonl"),
        params:
            code=CODE["train.py"],
            tasks=lambda wc: [wc.task],
            training=lambda wc: selection.point_training(VIEWS[wc.model], wc.stage, wc.task, wc.point),
            qa=lambda wc: qa_by_task([wc.task]),
            variant={"name": "standard", "block": {"method": "standard"}},
        wildcard_constraints:
            stage=one_of(sorted({s for s, _ in SELECTIONS})),
            task=one_of(sorted({t for _, t in SELECTIONS})),
            point=r"[a-z_]+=[0-9][0-9.e+-]*(,[a-z_]+=[0-9][0-9.e+-]*)*",
        resources:
            gpu=1,
            runtime=lambda wc, attempt: cluster.runtime_minutes(
                VIEWS[wc.model], wc.task, selection.for_runtime(selection.point_training(VIEWS[wc.model], wc.stage, wc.task, wc.point)),
                {"method": "standard"}, attempt, train_token_stats(wc.model, wc.task)),
            mem_mb=job_mem_mb,
        log:
            logs("select_point", "{model}/{stage}/{task}/{point}/seed{seed}")["log"],
        benchmark:
            logs("select_point", "{model}/{stage}/{task}/{point}/seed{seed}")["benchmark"]
        conda:
            "../envs/training.yaml"
        script:
            "../workflow_scripts/train.py"


    rule select:
        input:
            points=lambda wc: [plan.selection_file(r["model"], r["stage"], r["task"], r["point"], r["seed"], "dev_metrics.json")
                               for r in selection.point_runs(config)
                               if (r["model"], r["stage"], r["task"]) == (wc.model, wc.stage, wc.task)],
        output:
            plan.selection_result("{model}", "{stage}", "{task}"),
        params:
            code=CODE["calibrate.py"],
            kind="selection",
            runs=lambda wc: [r for r in selection.point_runs(config)
                             if (r["model"], r["stage"], r["task"]) == (wc.model, wc.stage, wc.task)],
            settings=lambda wc: selection.stage_settings(config, wc.stage),
        wildcard_constraints:
            stage=one_of(sorted({s for s, _ in SELECTIONS})),
            task=one_of(sorted({t for _, t in SELECTIONS})),
        log:
            logs("select", "{model}/{stage}/{task}")["log"],
        benchmark:
            logs("select", "{model}/{stage}/{task}")["benchmark"]
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow_scripts/calibrate.py"
