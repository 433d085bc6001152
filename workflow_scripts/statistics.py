from xlt.runlog import logging_to
from xlt.steps import report

with logging_to(snakemake.log[0]):
    b, p = snakemake.params.bootstrap, snakemake.params
    report.statistics(snakemake.input.scores, snakemake.input.matrix, int(b["replicates"]), int(b["seed"]),
                      snakemake.output.aggregate, snakemake.output.comparisons, dict(p.report), dict(p.groups))
