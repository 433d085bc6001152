from xlt.workflow import warm

i, p = snakemake.input, snakemake.params
warm.run(snakemake.config, "xlt.steps.report", "span_ceiling",
         {"runs": [dict(r) for r in p.runs], "features_paths": list(i.features), "data_paths": list(i.data),
          "model_dirs": list(i.models), "qa": {t: dict(o) for t, o in p.qa.items()},
          "features_cfg": {t: dict(o) for t, o in p.features.items()}, "out": snakemake.output[0]}, snakemake.log[0])
