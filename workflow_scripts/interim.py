from xlt.workflow import plan, warm

b, p = snakemake.params.bootstrap, snakemake.params
warm.run(snakemake.config, "xlt.steps.report", "interim",
         {"runs": list(p.runs), "languages": dict(p.languages),
          "test_data": {t: plan.data_file(t, "test") for t in p.languages},
          "metric_files": list(snakemake.input.metrics), "target_dev_files": list(snakemake.input.target_dev),
          "wave": int(snakemake.wildcards.wave), "waves": [list(w) for w in p.waves],
          "replicates": int(b["replicates"]), "seed": int(b["seed"]), "out": snakemake.output[0],
          "report_cfg": dict(p.report), "groups": dict(p.groups),
          "variant_blocks": {m: dict(b) for m, b in p.variants.items()},
          "calibration_paths": list(snakemake.input.calibration), "families": list(p.families)},
         snakemake.log[0])
