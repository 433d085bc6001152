from xlt.runlog import logging_to
from xlt.steps import report

with logging_to(snakemake.log[0]):
    report.summary(snakemake.input.aggregate, snakemake.input.comparisons, dict(snakemake.params.targets),
                   int(snakemake.params.replicates), bool(snakemake.params.demo), snakemake.output[0])
