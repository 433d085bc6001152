"""One function per workflow step; workflow_scripts/* call these and nothing else."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlt.formats import get_format
from xlt.io import atomic_path, read_json, write_json, write_parquet
from xlt.tasks import get_task
from xlt.modeling import head_spec
from xlt.training import TaskData, TaskSpec, TrainConfig, evaluate, set_seed, train


def task_spec(task_name: str, qa_options: dict, labels: list[str] | None = None) -> TaskSpec:
    """Format and scoring options of a task; `labels` = the tag vocabulary of a tagging task."""
    task = get_task(task_name)
    options = dict(task.score_options)
    if task.format == "span_qa":
        options.update(qa_options, allow_no_answer=task.allow_no_answer)
    if task.format == "tagging":
        options["labels"] = list(labels)
    return TaskSpec(format=task.format, selection_metric=task.selection_metric, options=options)


def head_spec_for(task_name: str, labels: list[str] | None = None) -> dict:
    task = get_task(task_name)
    return head_spec(task.format, len(labels) if task.format == "tagging" else task.num_labels)


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


def featurize(task_name: str, data: str, model_dir: str, feature_cfg: dict, out: str,
              train_data: str | None = None) -> None:
    """Tokenise one split once for all runs. Tagging needs the training split's tag vocabulary."""
    from xlt.modeling import load_tokenizer

    task = get_task(task_name)
    module = get_format(task.format)
    extra = {}
    if task.format == "tagging":
        extra["labels"] = module.tag_vocabulary(pd.read_parquet(train_data or data))
    features = module.featurize(pd.read_parquet(data), load_tokenizer(model_dir), **feature_cfg, **extra)
    write_parquet(features, out)


def load_task_data(spec: dict) -> TaskData:
    """spec: {name, train, dev, dev_data, qa (options), extra: {split: [features, data]}} (paths)."""
    train_features = pd.read_parquet(spec["train"])
    labels = train_features.attrs.get("labels")
    return TaskData(
        name=spec["name"], spec=task_spec(spec["name"], spec.get("qa", {}), labels), train=train_features,
        dev=pd.read_parquet(spec["dev"]), dev_examples=pd.read_parquet(spec["dev_data"]),
        extra_dev={split: (pd.read_parquet(f), pd.read_parquet(d)) for split, (f, d) in spec.get("extra", {}).items()},
    )


def train_stage(tasks: list[dict], init: str, train_cfg: dict, seed: int, checkpoint: str, metrics_out: str,
                log: str, mixing: dict | None = None, keep_compatible_head: bool = False) -> None:
    """Fine-tune `init` (a model snapshot or an earlier stage's checkpoint) on one or more tasks.

    The body carries over; each task gets a fresh head (Phang et al. 2020) unless `keep_compatible_head`
    and `init` holds a head of the same format and size (e.g. SQuAD -> TyDiQA)."""
    from xlt.modeling import build_model, compatible, load_heads, load_model, load_tokenizer, saved_heads

    data = [load_task_data(t) for t in tasks]
    set_seed(seed)
    specs = {d.name: head_spec_for(d.name, d.spec.options.get("labels")) for d in data}
    model = build_model(init, specs, seed=seed)
    reused = {}
    if keep_compatible_head:
        saved = saved_heads(init)
        for name, spec in specs.items():
            match = [name] if name in saved and compatible(saved[name], spec) else \
                sorted(t for t, s in saved.items() if compatible(s, spec))
            if match:
                reused[name] = match[0]
        load_heads(model, init, reused)
    tokenizer = load_tokenizer(init)
    best = train(model, tokenizer, data, TrainConfig.from_dict(train_cfg), checkpoint, log, seed, mixing)
    if any(d.extra_dev for d in data):  # e.g. MNLI mismatched, scored once on the selected checkpoint
        from xlt.training import device_and_autocast

        model = load_model(checkpoint).to(device_and_autocast()[0])
        for d in data:
            for split, (features, examples) in d.extra_dev.items():
                prefix = get_task(d.name).extra_dev[split]
                _, metrics = evaluate(model, features, examples, d.spec, tokenizer.pad_token_id,
                                      train_cfg.get("eval_batch_size", 64), d.name)
                best[d.name].update({f"{prefix}_{k}": v for k, v in metrics.items()})
    write_json({"seed": seed, "init": str(init), "reused_heads": reused, "metrics": best}, metrics_out)


def evaluate_languages(task_name: str, checkpoint: str, test_features: str, test_data: str, run: dict,
                       qa_options: dict, batch_size: int, outputs: dict[str, tuple[str, str]]) -> None:
    """Zero-shot evaluation: for each language, write {id: prediction} and its metrics.

    `outputs` maps language -> (predictions path, metrics path)."""
    from xlt.modeling import load_model, load_tokenizer

    features, examples = pd.read_parquet(test_features), pd.read_parquet(test_data)
    model, tokenizer = load_model(checkpoint), load_tokenizer(checkpoint)
    from xlt.training import device_and_autocast

    model.to(device_and_autocast()[0])
    spec = task_spec(task_name, qa_options, pd.read_parquet(test_features).attrs.get("labels"))
    for lang, (pred_path, metrics_path) in outputs.items():
        ex = examples[examples["language"] == lang]
        if ex.empty:
            raise ValueError(f"{test_data} has no {lang!r} examples; remove {lang} from study.targets.{task_name}")
        preds, metrics = evaluate(model, features[features["language"] == lang], ex, spec,
                                  tokenizer.pad_token_id, batch_size)
        write_json(preds, pred_path)
        write_json({**run, "language": lang, "n_examples": len(ex), "metrics": metrics}, metrics_path)


def build_matrix(metric_files: list[str], intermediate_files: list[str], out_parquet: str, out_csv: str) -> pd.DataFrame:
    """Zero-shot target metrics (stage=target) and intermediate dev metrics (stage=intermediate)."""
    from xlt.matrix import intermediate_records, matrix_from_records

    records = [read_json(p) for p in metric_files] + [r for p in intermediate_files for r in intermediate_records(p)]
    matrix = matrix_from_records(records)
    write_parquet(matrix, out_parquet)
    with atomic_path(out_csv) as tmp:
        matrix.to_csv(tmp, index=False)
    return matrix
