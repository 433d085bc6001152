from xlt import stages
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    stages.build_matrix(list(snakemake.input.target), list(snakemake.input.intermediate),
                        snakemake.output.parquet, snakemake.output.csv)
