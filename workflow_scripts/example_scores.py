from xlt import plan
from xlt.runlog import logging_to
from xlt.steps import report

with logging_to(snakemake.log[0]):
    tests = {t: plan.data_file(t, "test") for t in snakemake.params.languages}
    report.example_scores(list(snakemake.params.runs), dict(snakemake.params.languages), tests, snakemake.output[0])
