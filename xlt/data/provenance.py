"""What made an artifact: dataset commits (or local files and their hashes), the model commit, the code
fingerprint of each stage's rule, the variant blocks. Recorded along the DAG — data parquet attrs, a model
snapshot's xlt_provenance.json, each checkpoint's xlt_provenance.json (its stages), each metrics file — and
flattened into matrix columns, so every result row can be traced to its inputs."""
from __future__ import annotations

import json
from pathlib import Path

FILE = "xlt_provenance.json"


def data(path: str | Path) -> dict:
    """A normalised split's provenance (xlt.data.sources), read from the parquet footer only."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"PANDAS_ATTRS", b"{}")).get("provenance", {})


def of_dir(path: str | Path) -> dict:
    """A model snapshot's or checkpoint's provenance ({} if it has none)."""
    p = Path(path) / FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def after_stage(init: str | Path, stage: dict) -> dict:
    """A checkpoint's provenance: its init's (a snapshot: the model; a checkpoint: the model and stages)
    plus this stage."""
    base = of_dir(init)
    model = base.get("model", base) if base else {}
    return {"model": model, "stages": [*base.get("stages", []), stage]}


def matrix_columns(prov: dict) -> dict:
    """Flat columns for a matrix row: model commit, every dataset revision/file read, code per stage, the
    variant block per stage (JSON strings, so the matrix stays one tidy table)."""
    stages = prov.get("stages", [])
    model = prov.get("model", {})
    datasets = {}
    for stage in stages:
        for task, splits in stage.get("data", {}).items():
            for split, p in splits.items():
                datasets[f"{task}/{split}"] = p.get("revisions") or p.get("files") or p.get("source")
    for split, p in prov.get("eval_data", {}).items():
        datasets[split] = p.get("revisions") or p.get("files") or p.get("source")
    code = {s["stage"]: s.get("code") for s in stages}
    if prov.get("eval_code"):
        code["evaluate"] = prov["eval_code"]
    return {"model_commit": model.get("commit") or model.get("source", ""),
            "dataset_revisions": json.dumps(datasets, sort_keys=True),
            "code": json.dumps(code, sort_keys=True),
            "variant_blocks": json.dumps({s["stage"]: s.get("variant_block") for s in stages}, sort_keys=True)}
