# Shared by train_intermediate, train_multitask, train_target and calibrate_point.
from xlt.gpus import gpu_slot
from xlt.runlog import logging_to

# the GPU slot is taken first: the job holds its device for all of its run, imports included
with logging_to(snakemake.log[0]), gpu_slot():
    from xlt import plan
    from xlt.steps import train
    from xlt.training import use_threads

    use_threads(snakemake.threads)
    w, p = snakemake.wildcards, snakemake.params
    tasks = [{**plan.task_inputs(w.model, t), "qa": p.qa[t]} for t in p.tasks]
    calibration = snakemake.input.get("calibration") or []
    calibration = [calibration] if isinstance(calibration, str) else list(calibration)
    train.fine_tune(tasks, snakemake.input.init, dict(p.training), int(p.get("seed", w.get("seed"))),
                    snakemake.output.checkpoint, snakemake.output.metrics, snakemake.output.train_log,
                    mixing=p.get("mixing"),
                    keep_compatible_head=p.get("transfer", {}).get("keep_compatible_head", False),
                    variant=p.variant["name"], variant_block=p.variant["block"],
                    calibration=calibration[0] if calibration else None,
                    stage="target" if snakemake.rule == "train_target" else
                    "calibration" if snakemake.rule == "calibrate_point" else "intermediate",
                    code=p.code)
