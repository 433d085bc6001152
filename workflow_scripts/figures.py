from xlt.runlog import logging_to
from xlt.steps import report

with logging_to(snakemake.log[0]):
    outputs = {name: path for name, path in snakemake.output.items()}
    report.figures(snakemake.input.aggregate, snakemake.input.comparisons, dict(snakemake.params.targets), outputs)
