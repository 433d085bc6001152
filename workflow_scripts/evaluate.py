from xlt.gpus import gpu_slot
from xlt.runlog import logging_to

# the GPU slot is taken first: the job holds its device for all of its run, imports included
with logging_to(snakemake.log[0]), gpu_slot():
    from xlt.steps import evaluate
    from xlt.training import use_threads

    use_threads(snakemake.threads)
    w = snakemake.wildcards
    run = {"model": w.model, "intermediate": w.inter, "variant": w.variant, "target": snakemake.params.target,
           "seed": int(w.seed)}
    outputs = dict(zip(snakemake.params.languages, zip(snakemake.output.predictions, snakemake.output.metrics)))
    evaluate.evaluate_languages(snakemake.params.target, snakemake.input.checkpoint, snakemake.input.features,
                                snakemake.input.data, run, dict(snakemake.params.qa), snakemake.params.batch_size,
                                outputs, code=snakemake.params.code, attention=snakemake.params.attention)
