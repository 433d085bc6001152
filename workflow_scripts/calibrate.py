from xlt.runlog import logging_to
from xlt.steps import calibration

with logging_to(snakemake.log[0]):
    p = snakemake.params
    calibration.select(list(snakemake.input.points), list(p.grid), snakemake.wildcards.variant, dict(p.block),
                       p.task, snakemake.output[0])
