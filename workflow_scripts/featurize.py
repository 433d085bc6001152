from xlt.steps import data
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    data.featurize(snakemake.wildcards.task, snakemake.input.data, snakemake.input.model,
                   dict(snakemake.params.features), snakemake.output[0], snakemake.input.get("train_data"))
