from xlt.workflow import warm

b, p = snakemake.params.bootstrap, snakemake.params
warm.run(snakemake.config, "xlt.steps.report", "statistics",
         {"scores_path": snakemake.input.scores, "matrix_path": snakemake.input.matrix,
          "replicates": int(b["replicates"]), "seed": int(b["seed"]), "out_aggregate": snakemake.output.aggregate,
          "out_comparisons": snakemake.output.comparisons, "out_run_variance": snakemake.output.run_variance,
          "out_sensitivity": snakemake.output.sensitivity, "report_cfg": dict(p.report), "groups": dict(p.groups),
          "sequential": {"waves": {m: [list(w) for w in ws] for m, ws in p.waves.items()}, "interims": list(snakemake.input.interims)},
          "variant_blocks": {m: dict(b) for m, b in p.variants.items()}, "calibration_paths": list(snakemake.input.calibration),
          "families": {m: list(f) for m, f in p.families.items()}},
         snakemake.log[0])
