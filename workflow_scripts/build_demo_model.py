from xlt import stages
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    stages.build_demo_model(snakemake.params.fixtures, snakemake.output[0], dict(snakemake.params.spec))
