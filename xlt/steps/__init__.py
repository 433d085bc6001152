"""The rules' steps: each rule names a function here as its `step` (the training rules share
train:fine_tune; a target job's step, target:train_and_evaluate, trains through it and evaluates with
evaluate.py), and the step runner (workflow_scripts/step.py, xlt/workflow/runner.py) calls it with the rule's own input,
output and params names. Heavy imports (torch, transformers) happen inside the functions that need them, so
light jobs (data preparation, the matrix) start fast."""
