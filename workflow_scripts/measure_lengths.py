from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.data", "measure_lengths",
         {"task_name": snakemake.wildcards.task, "data": snakemake.input.data, "model_dir": snakemake.input.model,
          "coverage": dict(snakemake.params.coverage), "out": snakemake.output[0]}, snakemake.log[0])
