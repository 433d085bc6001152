from xlt.workflow import warm

p = snakemake.params
warm.run(snakemake.config, "xlt.steps.pilot", "pilot_report",
         {"jobs": list(p.jobs), "checks": dict(p.checks), "identity": dict(p.identity), "passes": dict(p.passes),
          "out_json": snakemake.output.json, "out_md": snakemake.output.md},
         snakemake.log[0])
