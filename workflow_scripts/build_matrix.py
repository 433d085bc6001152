from xlt.steps import report
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    report.build_matrix(list(snakemake.input.target), list(snakemake.input.intermediate),
                        snakemake.output.parquet, snakemake.output.csv)
