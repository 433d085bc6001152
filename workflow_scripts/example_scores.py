from xlt.workflow import plan, warm

warm.run(snakemake.config, "xlt.steps.report", "example_scores",
         {"runs": list(snakemake.params.runs), "languages": dict(snakemake.params.languages),
          "test_data": {t: plan.data_file(t, "test") for t in snakemake.params.languages},
          "out": snakemake.output[0]}, snakemake.log[0])
