from xlt import warm

p = snakemake.params
warm.run(snakemake.config, "xlt.steps.calibration", "select",
         {"point_metrics": list(snakemake.input.points), "grid": list(p.grid), "variant": snakemake.wildcards.variant,
          "block": dict(p.block), "task": p.task, "out": snakemake.output[0]}, snakemake.log[0])
