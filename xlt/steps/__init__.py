"""One module per rules/*.smk file, one function per rule: each rule names its function here as its `step`,
and the step runner (workflow_scripts/step.py, xlt/workflow/runner.py) calls it with the rule's own input,
output and params names. Heavy imports (torch, transformers) happen inside the functions that need them, so
light jobs (data preparation, the matrix) start fast."""
