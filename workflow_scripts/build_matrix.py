from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.report", "build_matrix",
         {"metric_files": list(snakemake.input.target), "intermediate_files": list(snakemake.input.intermediate),
          "target_dev_files": list(snakemake.input.target_dev),
          "out_parquet": snakemake.output.parquet, "out_csv": snakemake.output.csv}, snakemake.log[0])
