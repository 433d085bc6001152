# Zero-shot evaluation on every language of a target: one job per (run, target) loads the model once
# and writes {lang}.predictions.json ({id: prediction}) and {lang}.metrics.json per language.

for _target, _langs in STUDY["targets"].items():

    rule:
        name:
            f"evaluate_{_target}"
        input:
            checkpoint=plan.target_file("{model}", "{inter}", "{variant}", _target, "{seed}", "checkpoint"),
            features=features("{model}", _target, "test"),
            data=data(_target, "test"),
        output:
            predictions=[plan.eval_file("{model}", "{inter}", "{variant}", _target, "{seed}", lang, "predictions") for lang in _langs],
            metrics=[plan.eval_file("{model}", "{inter}", "{variant}", _target, "{seed}", lang, "metrics") for lang in _langs],
        params:
            code=CODE["evaluate.py"],
            target=_target,
            languages=_langs,
            qa=qa_options(config, _target),
            batch_size=lambda wc, _target=_target: training_config(config, "target", _target, wc.model)["eval_batch_size"],
            attention=lambda wc, _target=_target: training_config(config, "target", _target, wc.model).get("attention", "sdpa"),
            preregistration=PREREGISTRATION,  # the first evaluation declares (xlt/analysis/preregistration.py)
        resources:
            gpu=1,
            mem_mb=job_mem_mb,
        log:
            logs(f"evaluate_{_target}", "{model}/{inter}/{variant}/seed{seed}")["log"],
        benchmark:
            logs(f"evaluate_{_target}", "{model}/{inter}/{variant}/seed{seed}")["benchmark"]
        conda:
            "../envs/training.yaml"
        script:
            "../workflow_scripts/evaluate.py"
