# Shared by train_intermediate, train_multitask, calibrate_point and select_point (target runs: train_target.py).
from xlt.workflow import warm
from xlt.workflow.step_args import fine_tune_args

stage = {"calibrate_point": "calibration", "select_point": "selection"}.get(snakemake.rule, "intermediate")
warm.run(snakemake.config, "xlt.steps.train", "fine_tune", fine_tune_args(snakemake, stage, snakemake.output.checkpoint),
         snakemake.log[0], threads=snakemake.threads, gpu=True)
