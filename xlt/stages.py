"""One function per workflow step; workflow_scripts/* call these and nothing else."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlt.formats import get_format
from xlt.io import atomic_path, read_json, write_json, write_parquet
from xlt.tasks import get_task
from xlt.training import TaskSpec, TrainConfig, evaluate, set_seed, train


def task_spec(task_name: str, qa_options: dict) -> TaskSpec:
    task = get_task(task_name)
    options = dict(qa_options, allow_no_answer=task.allow_no_answer) if task.format == "span_qa" else {}
    return TaskSpec(format=task.format, selection_metric=task.selection_metric, options=options)


def prepare_dataset(task_name: str, source: dict, split: str, out: str) -> None:
    from xlt.sources import prepare_split

    write_parquet(prepare_split(get_task(task_name), source, split), out)


def build_demo_fixtures(out_dir: str, seed: int) -> None:
    from xlt.demo.fixtures import write_fixtures

    write_fixtures(out_dir, seed)


def build_demo_model(out_dir: str, spec: dict, corpus_seed: int) -> None:
    from xlt.demo.fixtures import pretraining_corpus
    from xlt.demo.tiny_model import build_tiny_bloom

    build_tiny_bloom(pretraining_corpus(corpus_seed), out_dir, **spec)


def snapshot_model(repo: str, revision: str | None, out_dir: str) -> None:
    """Download a Hub model once (login node) so training jobs read it from disk."""
    from huggingface_hub import snapshot_download

    from xlt.hub import ensure_hub_reachable

    ensure_hub_reachable(f"model {repo}", "Download it where you have internet and set "
                         "models.<name>.local to its folder, or run this rule on a node with internet.")
    with atomic_path(out_dir) as tmp:
        snapshot_download(repo, revision=revision, local_dir=tmp,
                          allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"])


def link_local_model(src: str, out_dir: str) -> None:
    """A user-provided local model folder, copied into results/models so every run reads one place."""
    import shutil

    if not (Path(src) / "config.json").exists():
        raise FileNotFoundError(f"local model folder {src} has no config.json; point models.<name>.local "
                                "at a folder written by save_pretrained or snapshot_download")
    with atomic_path(out_dir) as tmp:
        shutil.copytree(src, tmp)


def featurize(task_name: str, data: str, model_dir: str, feature_cfg: dict, out: str) -> None:
    from xlt.modeling import load_tokenizer

    task = get_task(task_name)
    examples = pd.read_parquet(data)
    features = get_format(task.format).featurize(examples, load_tokenizer(model_dir), **feature_cfg)
    write_parquet(features, out)


def train_stage(task_name: str, init: str, train_features: str, dev_features: str, dev_data: str,
                train_cfg: dict, qa_options: dict, seed: int, checkpoint: str, metrics_out: str, log: str) -> None:
    """Fine-tune `init` (a model snapshot or an earlier stage's checkpoint: body only, fresh head) on one task."""
    from xlt.modeling import build_model, load_tokenizer

    task = get_task(task_name)
    set_seed(seed)
    model = build_model(init, task.format, task.num_labels, seed=seed)
    tokenizer = load_tokenizer(init)
    best = train(model, tokenizer, task_spec(task_name, qa_options), pd.read_parquet(train_features),
                 pd.read_parquet(dev_features), pd.read_parquet(dev_data), TrainConfig.from_dict(train_cfg),
                 checkpoint, log, seed)
    write_json({"task": task_name, "split": "dev", "seed": seed, **best}, metrics_out)


def evaluate_languages(task_name: str, checkpoint: str, test_features: str, test_data: str, run: dict,
                       qa_options: dict, batch_size: int, outputs: dict[str, tuple[str, str]]) -> None:
    """Zero-shot evaluation: for each language, write {id: prediction} and its metrics.

    `outputs` maps language -> (predictions path, metrics path)."""
    from xlt.modeling import load_model, load_tokenizer

    features, examples = pd.read_parquet(test_features), pd.read_parquet(test_data)
    model, tokenizer = load_model(checkpoint), load_tokenizer(checkpoint)
    from xlt.training import device_and_autocast

    model.to(device_and_autocast()[0])
    spec = task_spec(task_name, qa_options)
    for lang, (pred_path, metrics_path) in outputs.items():
        ex = examples[examples["language"] == lang]
        if ex.empty:
            raise ValueError(f"{test_data} has no {lang!r} examples; remove {lang} from study.targets.{task_name}")
        preds, metrics = evaluate(model, features[features["language"] == lang], ex, spec,
                                  tokenizer.pad_token_id, batch_size)
        write_json(preds, pred_path)
        write_json({**run, "language": lang, "n_examples": len(ex), "metrics": metrics}, metrics_path)


def build_matrix(metric_files: list[str], out_parquet: str, out_csv: str) -> pd.DataFrame:
    from xlt.matrix import matrix_from_records

    matrix = matrix_from_records([read_json(p) for p in metric_files])
    write_parquet(matrix, out_parquet)
    with atomic_path(out_csv) as tmp:
        matrix.to_csv(tmp, index=False)
    return matrix
