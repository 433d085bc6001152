from xlt import stages
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    stages.link_local_model(snakemake.params.source, snakemake.output[0])
