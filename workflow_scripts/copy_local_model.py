from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.data", "copy_local_model",
         {"src": snakemake.params.source, "out_dir": snakemake.output[0]}, snakemake.log[0])
