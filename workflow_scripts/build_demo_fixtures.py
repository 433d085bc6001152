from pathlib import Path

from xlt.workflow import warm

# outputs are results/demo/fixtures/<task>/<split>.parquet
warm.run(snakemake.config, "xlt.steps.data", "build_demo_fixtures",
         {"out_dir": str(Path(snakemake.output[0]).parent.parent), "seed": snakemake.params.seed}, snakemake.log[0])
