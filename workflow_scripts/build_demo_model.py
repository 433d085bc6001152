from xlt.steps import data
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    data.build_demo_model(snakemake.output[0], dict(snakemake.params.spec), snakemake.params.corpus_seed)
