from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.data", "build_demo_model",
         {"out_dir": snakemake.output[0], "spec": dict(snakemake.params.spec),
          "corpus_seed": snakemake.params.corpus_seed}, snakemake.log[0])
