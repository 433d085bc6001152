from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.report", "figures",
         {"aggregate_path": snakemake.input.aggregate, "comparisons_path": snakemake.input.comparisons,
          "targets": dict(snakemake.params.targets), "models": dict(snakemake.params.models),
          "outputs": dict(snakemake.output.items()),
          "test_data": dict(zip(snakemake.params.targets, snakemake.input.test))}, snakemake.log[0])
