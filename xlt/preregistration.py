"""The confirmatory declaration and its check: what the answer's tests were declared to be before any
target result existed, and what has been amended since.

results/preregistration.json is written once, by the `preregister` rule that every target evaluation
needs (so before the first one), with a copy of the declaration, its hash and the time. summary.md
compares the current config's declaration with it: "declared before results", or every amended key with
its declared and current value. Deleting the file re-declares (the next run writes a new one)."""
from __future__ import annotations

import hashlib
import json
import time

from xlt.config import canonical, report_config
from xlt.io import read_json, write_json


def declaration(config: dict) -> dict:
    """The confirmatory declaration: the study design (study block: models, tasks, variants, seeds,
    targets, calibration and selection grids), the blocks of the study's variants, and the report block
    with its defaults filled in."""
    study = config["study"]
    return canonical({"study": study, "variants": {v: config["variants"][v] for v in study["variants"]},
                      "report": report_config(config)})


def digest(declared: dict) -> str:
    return hashlib.sha256(json.dumps(canonical(declared), sort_keys=True).encode()).hexdigest()


def write(config: dict, path: str) -> dict:
    """Write the declaration of `config` to `path` (atomically) and return the record."""
    declared = declaration(config)
    record = {"hash": digest(declared), "declared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "declaration": declared}
    write_json(record, path)
    return record


def amendments(record: dict, current: dict) -> list[dict]:
    """Every leaf key whose current value differs from the declared one: [{key, declared, current}]
    (dotted keys; a key present on one side only has None on the other)."""
    out = []

    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        elif a != b:
            out.append({"key": prefix, "declared": a, "current": b})

    walk(record["declaration"], canonical(current), "")
    return out


def check(path: str, current: dict) -> dict:
    """{hash, declared_at, amendments} of the file at `path` against the current declaration."""
    record = read_json(path)
    return {"hash": record["hash"], "declared_at": record["declared_at"], "amendments": amendments(record, current)}
