# train_target_<target>: fine-tune on the target's English train/dev, then evaluate every language, in one job.
import importlib

from xlt.workflow import warm
from xlt.workflow.step_args import fine_tune_args

# Before the first result exists: the confirmatory declaration, from the config itself (not params:
# amending it later must not rewrite the file). Imported by name, so the declaration code is not part of
# this rule's code fingerprint — it changes no prediction, and editing it must not re-run any job.
importlib.import_module("xlt.analysis.preregistration").ensure(snakemake.config, snakemake.params.preregistration)

w, p, out = snakemake.wildcards, snakemake.params, snakemake.output
kept = out.get("checkpoint")  # study.keep_target_checkpoints: the rule's output; else node-local, deleted
run = {"model": w.model, "intermediate": w.inter, "variant": w.variant, "target": w.target, "seed": int(w.seed)}
evaluation = {"task_name": w.target, "test_features": snakemake.input.test_features,
              "test_data": snakemake.input.test_data, "run": run, "qa_options": dict(p.qa[w.target]),
              "batch_size": p.eval_batch_size, "attention": p.attention, "code": p.code,
              "outputs": {lang: [pred, metrics] for lang, pred, metrics in zip(p.languages, out.predictions, out.eval_metrics)}}
warm.run(snakemake.config, "xlt.steps.target", "train_and_evaluate",
         {"training": fine_tune_args(snakemake, "target", kept), "evaluation": evaluation,
          "scratch": snakemake.resources.tmpdir},
         snakemake.log[0], threads=snakemake.threads, gpu=True)
