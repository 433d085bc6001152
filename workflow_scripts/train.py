# Shared by train_intermediate (task = {task}) and train_target (task = {target}).
from xlt import stages
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    task = snakemake.params.get("task") or snakemake.wildcards.task
    stages.train_stage(task, snakemake.input.init, snakemake.input.train, snakemake.input.dev,
                       snakemake.input.dev_data, dict(snakemake.params.training), dict(snakemake.params.qa),
                       int(snakemake.wildcards.seed), snakemake.output.checkpoint, snakemake.output.metrics,
                       snakemake.output.train_log)
