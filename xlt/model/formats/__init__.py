"""Featurisation, batching, loss and prediction per task format.

Batching works on arrays built once per split (`arrays(features)`: token sequences as one flat array
plus offsets under `input_ids` — for multiple choice, every (context, choice) sequence — labels as arrays), so a batch is a few numpy gathers — no per-batch pandas row access.
`collate(features, ...)` (DataFrame rows) and `collate_arrays(arrays, indices, ...)` give the same
tensors; `multiple_of` pads the length up to a bucket (compiled bodies see few distinct shapes)."""
from xlt.model.formats.common import Ragged, pad_batch, separator_ids  # noqa: F401

FORMATS = ("classification", "span_qa", "multiple_choice", "tagging")


def get_format(name: str):
    # static imports, not importlib by name: the code fingerprint (xlt/workflow/fingerprint.py) reads them,
    # so editing a format re-runs the jobs that featurise, train and evaluate
    from xlt.model.formats import classification, multiple_choice, span_qa, tagging

    modules = dict(zip(FORMATS, (classification, span_qa, multiple_choice, tagging)))
    if name not in modules:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return modules[name]
