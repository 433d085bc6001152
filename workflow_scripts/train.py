# Shared by train_intermediate, train_multitask and train_target.
from xlt import plan
from xlt.steps import train
from xlt.runlog import logging_to
from xlt.training import use_threads

with logging_to(snakemake.log[0]):
    use_threads(snakemake.threads)
    w, p = snakemake.wildcards, snakemake.params
    tasks = [{**plan.task_inputs(w.model, t), "qa": p.qa[t]} for t in p.tasks]
    train.fine_tune(tasks, snakemake.input.init, dict(p.training), int(w.seed), snakemake.output.checkpoint,
                    snakemake.output.metrics, snakemake.output.train_log, mixing=p.get("mixing"),
                    keep_compatible_head=p.get("transfer", {}).get("keep_compatible_head", False),
                    variant=p.variant["name"], variant_block=p.variant["block"])
