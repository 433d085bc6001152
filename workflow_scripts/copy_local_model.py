from xlt.steps import data
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    data.copy_local_model(snakemake.params.source, snakemake.output[0])
