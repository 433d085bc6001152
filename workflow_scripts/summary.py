from xlt.workflow import warm

p, i = snakemake.params, snakemake.input
warm.run(snakemake.config, "xlt.steps.report", "summary",
         {"aggregate_path": i.aggregate, "comparisons_path": i.comparisons, "run_variance_path": i.run_variance,
          "sensitivity_path": i.sensitivity, "matrix_path": i.matrix, "preregistration_path": p.preregistration,
          "declaration": dict(p.declaration), "targets": dict(p.targets), "replicates": int(p.replicates),
          "demo": bool(p.demo), "out": snakemake.output[0], "report_cfg": dict(p.report),
          "groups": dict(p.groups) if p.groups else None, "interim_paths": list(p.interims),
          "waves": {m: [list(w) for w in ws] for m, ws in p.waves.items()}, "calibration_paths": list(i.calibration),
          "selection_paths": list(i.selection), "span_ceiling_path": (list(i.span_ceiling) or [None])[0]},
         snakemake.log[0])
