"""The step runner (workflow_scripts/step.py, the one workflow script): every rule names the xlt step it runs
in its params — `step="xlt.steps.<module>:<function>"` — and the step function takes the rule's own names:
each named input, output and param (but `step`) is the keyword argument of that name, and the step must take
every one (a rule that names the same thing as an input and an output is refused: rename one). Besides them,
a step gets what it asks for by name: the job's wildcards (where no input, output or param has that name),
`code` (the rule's code fingerprint, which every rule carries to re-run on a code edit), `config` and
`tmpdir` (the job's node-local scratch folder). A rule with a `gpu` resource runs a model: its step gets the
job's GPU slot and thread count. The step runs in a warm worker where those are on, else in this process
(xlt/workflow/warm.py); either way its arguments are plain JSON values (lists, dicts, strings, numbers)."""
from __future__ import annotations

import json

from xlt.workflow import warm

SECTIONS = ("input", "output", "params")


def plain(value):
    """`value` as JSON makes it: Snakemake's named lists become lists, tuples lists — what a warm worker gets."""
    return json.loads(json.dumps(value))


def step_call(smk) -> dict:
    """warm.run's arguments for the job of Snakemake's `snakemake` object `smk`."""
    kwargs, section_of = {}, {}
    for section in SECTIONS:
        for name, value in getattr(smk, section).items():
            if name in section_of:
                raise ValueError(f"rule {smk.rule} names `{name}` in its {section_of[name]} and its {section}: its "
                                 "step takes each by name, so rename one")
            section_of[name], kwargs[name] = section, value
    if "step" not in kwargs:
        raise ValueError(f"rule {smk.rule} names no step: give it params: step=\"xlt.steps.<module>:<function>\"")
    module, function = kwargs.pop("step").split(":")
    optional = {**dict(smk.wildcards.items()), "code": kwargs.pop("code", None), "config": smk.config,
                "tmpdir": smk.resources.get("tmpdir")}
    gpu = bool(smk.resources.get("gpu", 0))
    return {"module": module, "function": function, "kwargs": plain(kwargs), "log": smk.log[0],
            "threads": smk.threads if gpu else None, "gpu": gpu, "optional": plain(optional)}


def run(smk) -> None:
    """Run the step of the job `smk` (workflow_scripts/step.py)."""
    warm.run(smk.config, **step_call(smk))
