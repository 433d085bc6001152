# Shared by calibrate (a variant's radius) and select (a stage's training keys).
from xlt.workflow import warm

p, w = snakemake.params, snakemake.wildcards
kwargs = {"point_metrics": list(snakemake.input.points), "runs": [dict(r) for r in p.runs], "kind": p.kind,
          "settings": dict(p.settings), "out": snakemake.output[0]}
if p.kind == "calibration":
    kwargs.update(block=dict(p.block), variant=w.variant)
else:
    kwargs.update(stage=w.stage, task=w.task)
warm.run(snakemake.config, "xlt.steps.calibration", "select", kwargs, snakemake.log[0])
