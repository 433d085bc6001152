from xlt.workflow import warm

warm.run(snakemake.config, "xlt.steps.data", "featurize",
         {"task_name": snakemake.wildcards.task, "data": snakemake.input.data, "model_dir": snakemake.input.model,
          "feature_cfg": dict(snakemake.params.features), "out": snakemake.output[0],
          "train_data": snakemake.input.get("train_data"), "lengths": snakemake.input.get("lengths")},
         snakemake.log[0])
