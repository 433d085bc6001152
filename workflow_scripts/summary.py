from xlt import warm

p = snakemake.params
warm.run(snakemake.config, "xlt.steps.report", "summary",
         {"aggregate_path": snakemake.input.aggregate, "comparisons_path": snakemake.input.comparisons,
          "targets": dict(p.targets), "replicates": int(p.replicates), "demo": bool(p.demo), "out": snakemake.output[0],
          "report_cfg": dict(p.report), "groups": dict(p.groups) if p.groups else None}, snakemake.log[0])
