from pathlib import Path

from xlt.steps import data
from xlt.runlog import logging_to

with logging_to(snakemake.log[0]):
    # outputs are results/demo/fixtures/<task>/<split>.parquet
    data.build_demo_fixtures(str(Path(snakemake.output[0]).parent.parent), snakemake.params.seed)
