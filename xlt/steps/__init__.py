"""One module per rules/*.smk file, one function per rule: workflow_scripts/* call these and nothing else.
Heavy imports (torch, transformers) happen inside the functions that need them, so light jobs
(data preparation, the matrix) start fast."""
