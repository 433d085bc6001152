"""Steps of rules/data.smk: datasets, demo fixtures, model snapshots, tokenised features."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlt.io import atomic_path, write_parquet
from xlt.data.tasks import get_task


def prepare_dataset(task: str, source: dict, split: str, data: str) -> None:
    """One split of `task`, normalised, from its `source` (xlt/data/sources.py) to `data`."""
    from xlt.data.sources import prepare_split

    write_parquet(prepare_split(get_task(task), source, split), data)


def build_demo_fixtures(fixtures: list[str], seed: int) -> None:
    """The demo's generated datasets: `fixtures`, every <folder>/<task>/<split>.parquet, written at once."""
    from xlt.demo.fixtures import write_fixtures

    write_fixtures(Path(fixtures[0]).parent.parent, seed)


def build_demo_model(model_dir: str, spec: dict, corpus_seed: int) -> None:
    from xlt.demo.fixtures import pretraining_corpus
    from xlt.demo.tiny_model import build_tiny_bloom

    from xlt.io import write_json

    build_tiny_bloom(pretraining_corpus(corpus_seed), model_dir, **spec)
    write_json({"source": "demo", "spec": spec, "corpus_seed": corpus_seed}, Path(model_dir) / "xlt_provenance.json")


# What a model snapshot holds: config, tokenizer and safetensors weights. `*` matches `/` in these patterns, so
# the exports Bloom repositories carry beside the weights (onnx/: a second copy of the model) are skipped by name.
SNAPSHOT_FILES = ["*.json", "*.safetensors", "*.model", "*.txt"]
SNAPSHOT_SKIP = ["onnx/*"]


def snapshot_model(repo: str, revision: str | None, model_dir: str) -> None:
    """Download a Hub model once (login node) so training jobs read it from disk; offline, copy it from the
    Hugging Face cache if a snapshot is there. xlt_provenance.json records the commit."""
    import shutil

    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.utils import filter_repo_objects

    from xlt.data.hub import HubUnavailable, go_offline, offline_reason
    from xlt.io import write_json

    patterns = dict(allow_patterns=SNAPSHOT_FILES, ignore_patterns=SNAPSHOT_SKIP)
    offline = offline_reason()
    with atomic_path(model_dir) as tmp:
        if offline:
            go_offline()
            try:
                cached = Path(snapshot_download(repo, revision=revision, local_files_only=True, **patterns))
            except Exception as err:  # noqa: BLE001 — not in the cache, whatever the library says
                raise HubUnavailable(
                    f"Cannot download model {repo} from the Hugging Face Hub: {offline}, and the local cache holds "
                    f"no snapshot of it ({err.__class__.__name__}). Download it where you have internet "
                    f"(`snakemake --cores 1 download`) and set models.<name>.local to its folder, or run this rule "
                    f"on a node with internet.") from None
            tmp.mkdir(parents=True)
            # the cache may hold more of the repository than a snapshot: the download's own filter picks
            files = sorted(p.relative_to(cached).as_posix() for p in cached.rglob("*") if p.is_file())
            for rel in filter_repo_objects(files, **patterns):
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(cached / rel, tmp / rel)
            commit = f"{cached.name} (offline cache)"
        else:
            commit = HfApi().model_info(repo, revision=revision).sha  # download exactly what gets recorded
            snapshot_download(repo, revision=commit, local_dir=tmp, **patterns)
        write_json({"source": "hub", "repo": repo, "requested": revision or "main", "commit": commit},
                   tmp / "xlt_provenance.json")


def copy_local_model(source: str, model_dir: str) -> None:
    """A user-provided local model folder, copied into results/models so every run reads one place."""
    import shutil

    if not (Path(source) / "config.json").exists():
        raise FileNotFoundError(f"local model folder {source} has no config.json; point models.<name>.local "
                                "at a folder written by save_pretrained or snapshot_download")
    from xlt.io import write_json

    with atomic_path(model_dir) as tmp:
        shutil.copytree(source, tmp)
        if not (tmp / "xlt_provenance.json").exists():
            write_json({"source": "local", "path": str(source)}, tmp / "xlt_provenance.json")


def measure_lengths(task: str, data: str, model_dir: str, coverage: dict[str, float], lengths: str) -> None:
    """The `auto` lengths of a span-QA task: per length key in `coverage` ({max_answer_length: share,
    max_query_length: share}), the smallest length in the model's tokens covering that share of its
    training split's answers / questions — English only (strict zero-shot)."""
    from xlt.io import write_json
    from xlt.data import provenance
    from xlt.model.lengths import choose
    from xlt.model.modeling import load_tokenizer

    examples = pd.read_parquet(data)
    other = sorted(set(examples["language"]) - {"en"})
    if other:
        raise ValueError(f"{data} holds non-English examples ({', '.join(other)}): `auto` lengths are measured on "
                         "English training data only (strict zero-shot)")
    record = choose(examples, load_tokenizer(model_dir), coverage)
    write_json({**record, "task": task, "split": "train", "data": provenance.data(data)}, lengths)


def featurize(task: str, data: str, model_dir: str, feature_cfg: dict, features: str,
              train_data: str | None = None, lengths: str | None = None) -> None:
    """Tokenise one split once for all runs. Tagging needs the training split's tag vocabulary; span QA
    with an `auto` length reads the measured ones (`lengths`) and keeps them with the features, where
    training and evaluation read them (features.attrs["lengths"])."""
    from xlt.io import read_json
    from xlt.model.formats import get_format
    from xlt.model.lengths import resolve
    from xlt.model.modeling import load_tokenizer

    fmt = get_task(task).format
    module = get_format(fmt)
    extra = {}
    if fmt == "tagging":
        extra["labels"] = module.tag_vocabulary(pd.read_parquet(train_data or data))
    measured = read_json(lengths) if lengths else None
    feature_cfg = resolve(feature_cfg, measured, "features")
    frame = module.featurize(pd.read_parquet(data), load_tokenizer(model_dir), **feature_cfg, **extra)
    if measured:
        frame.attrs["lengths"] = measured
    seq = module.arrays(frame)["input_ids"].lengths  # every sequence the model will read
    # read by xlt.workflow.cluster when sizing the jobs that train on this split
    frame.attrs["token_stats"] = {"features": len(frame), "sequences": int(len(seq)), "tokens": int(seq.sum())}
    write_parquet(frame, features)
