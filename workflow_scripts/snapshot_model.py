from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.data", "snapshot_model",
         {"repo": snakemake.params.repo, "revision": snakemake.params.revision, "out_dir": snakemake.output[0]},
         snakemake.log[0])
