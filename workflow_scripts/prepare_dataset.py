from pathlib import Path

from xlt.workflow import warm

source = dict(snakemake.params.source)
if "demo" in source:  # generated fixtures are already normalised
    source = {"normalised": str(Path(snakemake.input[0]).parent)}
warm.run(snakemake.config, "xlt.steps.data", "prepare_dataset",
         {"task_name": snakemake.wildcards.task, "source": source, "split": snakemake.wildcards.split,
          "out": snakemake.output[0]}, snakemake.log[0])
