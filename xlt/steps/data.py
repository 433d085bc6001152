"""Steps of rules/data.smk: datasets, demo fixtures, model snapshots, tokenised features."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlt.io import atomic_path, write_parquet
from xlt.tasks import get_task


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


def copy_local_model(src: str, out_dir: str) -> None:
    """A user-provided local model folder, copied into results/models so every run reads one place."""
    import shutil

    if not (Path(src) / "config.json").exists():
        raise FileNotFoundError(f"local model folder {src} has no config.json; point models.<name>.local "
                                "at a folder written by save_pretrained or snapshot_download")
    with atomic_path(out_dir) as tmp:
        shutil.copytree(src, tmp)


def featurize(task_name: str, data: str, model_dir: str, feature_cfg: dict, out: str,
              train_data: str | None = None) -> None:
    """Tokenise one split once for all runs. Tagging needs the training split's tag vocabulary."""
    from xlt.formats import get_format
    from xlt.modeling import load_tokenizer

    task = get_task(task_name)
    module = get_format(task.format)
    extra = {}
    if task.format == "tagging":
        extra["labels"] = module.tag_vocabulary(pd.read_parquet(train_data or data))
    features = module.featurize(pd.read_parquet(data), load_tokenizer(model_dir), **feature_cfg, **extra)
    write_parquet(features, out)
