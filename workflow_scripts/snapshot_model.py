from xlt.steps import data
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    data.snapshot_model(snakemake.params.repo, snakemake.params.revision, snakemake.output[0])
