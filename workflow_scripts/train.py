# Shared by train_intermediate, train_multitask, train_target, calibrate_point and select_point.
from xlt.workflow import plan, warm

w, p = snakemake.wildcards, snakemake.params
calibration = snakemake.input.get("calibration") or []
calibration = [calibration] if isinstance(calibration, str) else list(calibration)
selection = snakemake.input.get("selection") or []
selection = [selection] if isinstance(selection, str) else list(selection)
stage = {"train_target": "target", "calibrate_point": "calibration", "select_point": "selection"}.get(
    snakemake.rule, "intermediate")
warm.run(snakemake.config, "xlt.steps.train", "fine_tune",
         {"tasks": [{**plan.task_inputs(w.model, t), "qa": dict(p.qa[t])} for t in p.tasks],
          "init": snakemake.input.init, "train_cfg": dict(p.training), "seed": int(p.get("seed", w.get("seed"))),
          "checkpoint": snakemake.output.checkpoint, "metrics_out": snakemake.output.metrics,
          "log": snakemake.output.train_log, "mixing": dict(p.mixing) if p.get("mixing") else None,
          "keep_compatible_head": p.get("transfer", {}).get("keep_compatible_head", False),
          "variant": p.variant["name"], "variant_block": p.variant["block"],
          "calibration": calibration[0] if calibration else None, "selection": selection[0] if selection else None,
          "stage": stage, "code": p.code},
         snakemake.log[0], threads=snakemake.threads, gpu=True)
