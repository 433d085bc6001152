from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.report", "training_curves",
         {"runs": list(snakemake.params.runs), "logs": list(snakemake.input.logs),
          "metrics": list(snakemake.input.metrics), "out": snakemake.output.png, "out_pdf": snakemake.output.pdf},
         snakemake.log[0])
