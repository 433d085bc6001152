"""Zero-shot evaluation of a target checkpoint on every language: the second half of rules/target.smk's step
(xlt/steps/target.py)."""
from __future__ import annotations

import pandas as pd

from xlt.io import write_json
from xlt.steps.train import task_spec
from xlt.train.loop import device_and_autocast, evaluate


def evaluate_languages(task_name: str, checkpoint: str, test_features: str, test_data: str, run: dict,
                       qa_options: dict, batch_size: int, outputs: dict[str, tuple[str, str]],
                       attention: str, code: str | None = None) -> None:
    """Zero-shot evaluation: for each language, write {id: prediction} and its metrics.

    `outputs` maps language -> (predictions path, metrics path)."""
    from xlt.data import provenance
    from xlt.model.modeling import load_model, load_tokenizer

    prov = {**provenance.of_dir(checkpoint), "eval_code": code, "eval_data": {"test": provenance.data(test_data)}}
    features, examples = pd.read_parquet(test_features), pd.read_parquet(test_data)
    model, tokenizer = load_model(checkpoint, attention), load_tokenizer(checkpoint)
    model.to(device_and_autocast()[0])
    spec = task_spec(task_name, qa_options, features.attrs.get("labels"), features.attrs.get("lengths"))
    for lang, (pred_path, metrics_path) in outputs.items():
        ex = examples[examples["language"] == lang]
        if ex.empty:
            raise ValueError(f"{test_data} has no {lang!r} examples; remove {lang} from study.targets.{task_name}")
        preds, metrics = evaluate(model, features[features["language"] == lang], ex, spec,
                                  tokenizer.pad_token_id, batch_size)
        write_json(preds, pred_path)
        write_json({**run, "language": lang, "n_examples": len(ex), "metrics": metrics, "provenance": prov},
                   metrics_path)
