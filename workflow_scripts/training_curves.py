from xlt.runlog import logging_to
from xlt.steps import report

with logging_to(snakemake.log[0]):
    report.training_curves(list(snakemake.params.runs), list(snakemake.input.logs), snakemake.output[0])
