from pathlib import Path

from xlt.steps import data
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    source = dict(snakemake.params.source)
    if "demo" in source:  # generated fixtures are already normalised
        source = {"normalised": str(Path(snakemake.input[0]).parent)}
    data.prepare_dataset(snakemake.wildcards.task, source, snakemake.wildcards.split, snakemake.output[0])
