"""Workflow plumbing: the config (schema, slices, validation), per-model designs, run enumeration and paths,
the English-dev calibration and selection stages, cluster sizing, code fingerprints, GPU slots, warm
workers, the SLURM profile and the DAG export. Never imports xlt.analysis (statistics) or above."""
