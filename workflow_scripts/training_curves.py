from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.report", "training_curves",
         {"runs": list(snakemake.params.runs), "logs": list(snakemake.input.logs), "out": snakemake.output[0]},
         snakemake.log[0])
