from xlt.workflow import warm

i, o = snakemake.input, snakemake.output
names = ["aggregate", "comparisons", "run_variance", "sensitivity"]
warm.run(snakemake.config, "xlt.steps.report", "report_pages",
         {"summary_path": i.summary, "tables": {n: i[n] for n in names}, "out_summary": o.summary,
          "out_answer": o.answer, "out_tables": {n: o[n] for n in names}}, snakemake.log[0])
