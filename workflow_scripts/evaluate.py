import importlib

from xlt.workflow import warm

# Before the first result exists: the confirmatory declaration, from the config itself (not params:
# amending it later must not rewrite the file). Imported by name, so the declaration code is not part of
# this rule's code fingerprint — it changes no prediction, and editing it must not re-run evaluations.
importlib.import_module("xlt.analysis.preregistration").ensure(snakemake.config, snakemake.params.preregistration)

w, p = snakemake.wildcards, snakemake.params
run = {"model": w.model, "intermediate": w.inter, "variant": w.variant, "target": p.target, "seed": int(w.seed)}
outputs = {lang: [pred, metrics] for lang, pred, metrics
           in zip(p.languages, snakemake.output.predictions, snakemake.output.metrics)}
warm.run(snakemake.config, "xlt.steps.evaluate", "evaluate_languages",
         {"task_name": p.target, "checkpoint": snakemake.input.checkpoint, "test_features": snakemake.input.features,
          "test_data": snakemake.input.data, "run": run, "qa_options": dict(p.qa), "batch_size": p.batch_size,
          "outputs": outputs, "code": p.code, "attention": p.attention},
         snakemake.log[0], threads=snakemake.threads, gpu=True)
