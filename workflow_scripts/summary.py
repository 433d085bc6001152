from xlt.runlog import logging_to
from xlt.steps import report

with logging_to(snakemake.log[0]):
    p = snakemake.params
    report.summary(snakemake.input.aggregate, snakemake.input.comparisons, dict(p.targets), int(p.replicates),
                   bool(p.demo), snakemake.output[0], dict(p.report), dict(p.groups) if p.groups else None)
