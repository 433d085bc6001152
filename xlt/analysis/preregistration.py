"""The confirmatory declaration and its check: what the answer's tests were declared to be before any
target result existed, and what has been amended since.

results/preregistration.json is written once, by the first target evaluation job (`ensure` before it
scores anything), with a copy of the declaration, its hash and the time. It is no rule's output, so no
config edit, code edit or deletion re-runs anything upstream of the summary. summary.md compares the
current config's declaration with it: "declared before results", or every amended key with its declared
and current value. Deleting the file re-declares: the next run writes a new one when it starts (marked
as made after results existed), and the summary re-runs if the declaration it would read changed."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from xlt.workflow.config import canonical, report_config
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


def write(config: dict, path: str, after_results: bool = False) -> dict:
    """Write the declaration of `config` to `path` (atomically) and return the record; `after_results`:
    re-declared when results already existed (the summary says so)."""
    declared = declaration(config)
    record = {"hash": digest(declared), "declared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "after_results": after_results, "declaration": declared}
    write_json(record, path)
    return record


def ensure(config: dict, path: str, after_results: bool = False) -> None:
    """Declare once: write the file unless it exists (two jobs racing both write the same declaration)."""
    if not Path(path).exists():
        write(config, path, after_results)


def expected_hash(config: dict, path: str) -> str:
    """The hash of the declaration the summary will read: the file's, or (before it exists) the one the
    first evaluation will write. A summary param: re-declaring with another config re-runs the summary."""
    return read_json(path)["hash"] if Path(path).exists() else digest(declaration(config))


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
    return {"hash": record["hash"], "declared_at": record["declared_at"],
            "after_results": bool(record.get("after_results")), "amendments": amendments(record, current)}
