from xlt.runlog import logging_to
from xlt.steps import report

with logging_to(snakemake.log[0]):
    b = snakemake.params.bootstrap
    report.statistics(snakemake.input.scores, snakemake.input.matrix, int(b["replicates"]), int(b["seed"]),
                      snakemake.output.aggregate, snakemake.output.comparisons)
