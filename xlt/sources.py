"""Where a dataset comes from: the Hub (default), local raw files, or already-normalised parquet.

Config (`datasets.<task>` in config.yaml), one of:
  {hub: {revision: main}}                         # the task's Hub repos (needs internet)
  {local: {format: parquet|json|csv|squad_json|ccg_tsv,   # raw files with the Hub's columns
           files: {<raw key>: path or [paths]}}}  #   raw keys: Task.hub in xlt/tasks (README lists them)
  {normalised: <dir>}                             # <dir>/<split>.parquet in the normalised schema
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from xlt.hub import ensure_hub_reachable
from xlt.schemas import check_frame
from xlt.tasks import Task, UrlPart


class SourceError(ValueError):
    pass


def prepare_split(task: Task, source: dict, split: str) -> pd.DataFrame:
    """Load one normalised split of `task` from `source` and check it against the schema."""
    if split not in task.parts:
        raise SourceError(f"task {task.name!r} has no split {split!r}; it has {list(task.parts)}")
    where = f"dataset {task.name!r}, split {split!r}"
    if "normalised" in source:
        path = Path(source["normalised"]) / f"{split}.parquet"
        if not path.exists():
            raise SourceError(f"{where}: {path} does not exist; datasets.{task.name}.normalised must be "
                              f"a folder holding {', '.join(s + '.parquet' for s in task.parts)}")
        df = pd.read_parquet(path)
    else:
        keys = task.parts[split]
        raw = load_local(task, source["local"], keys) if "local" in source else load_hub(task, source.get("hub") or {}, keys)
        df = task.normalise(raw, split)
    df = check_frame(df, task.format, where)
    if split != "test" and (df["language"] != "en").any():
        raise SourceError(f"{where}: training and model-selection splits must be English only (strict "
                          f"zero-shot), found languages {sorted(set(df['language']) - {'en'})}")
    return df


def load_hub(task: Task, hub_cfg: dict, keys: list[str]) -> dict[str, pd.DataFrame]:
    """Download the raw parts from where the task is published (the Hub, or a URL)."""
    if task.local_only:
        raise SourceError(task.local_only)
    fix = (f"Download them where you have internet, or set datasets.{task.name}.local in the config "
           f"to files on disk (raw keys: {', '.join(keys)}).")
    frames = {}
    for key in keys:
        part = task.hub[key]
        if isinstance(part, UrlPart):
            frames[key] = fetch_url(part, fix)
            continue
        ensure_hub_reachable(f"dataset {part.repo}", fix)
        import datasets  # heavy import, only when actually downloading

        revision = hub_cfg.get("revision") or part.revision
        frames[key] = datasets.load_dataset(part.repo, part.config, split=part.split, revision=revision).to_pandas()
    return frames


def fetch_url(part: UrlPart, fix: str, timeout: float = 3.0) -> pd.DataFrame:
    import socket
    import urllib.request
    from urllib.parse import urlparse

    from xlt.hub import HubUnavailable

    host = urlparse(part.url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as err:
        raise HubUnavailable(f"Cannot download {part.url}: cannot reach {host} ({err}). {fix}") from None
    with urllib.request.urlopen(part.url, timeout=60) as response:
        return pd.read_csv(response) if part.format == "csv" else pd.read_json(response, lines=True)


def load_local(task: Task, local: dict, keys: list[str]) -> dict[str, pd.DataFrame]:
    fmt, files = local.get("format"), local.get("files") or {}
    missing = [k for k in keys if k not in files]
    if missing:
        raw_keys = sorted({k for ks in task.parts.values() for k in ks})
        raise SourceError(f"datasets.{task.name}.local.files lacks raw key(s) {missing}; "
                          f"this task's raw keys are {raw_keys}")
    frames = {}
    for key in keys:
        paths = [files[key]] if isinstance(files[key], str) else list(files[key])
        for p in paths:
            if not Path(p).exists():
                raise SourceError(f"datasets.{task.name}.local.files.{key}: {p} does not exist")
        if fmt == "squad_json":
            frames[key] = pd.concat([read_squad_json(p) for p in paths], ignore_index=True)
        elif fmt == "ccg_tsv":
            from xlt.tasks.ccg import read_ccg_tsv

            frames[key] = pd.concat([read_ccg_tsv(p) for p in paths], ignore_index=True)
        elif fmt in ("parquet", "json", "csv"):
            import datasets

            frames[key] = datasets.load_dataset(fmt, data_files=paths, split="train").to_pandas()
        else:
            raise SourceError(f"datasets.{task.name}.local.format is {fmt!r}; "
                              f"use one of parquet, json, csv, squad_json, ccg_tsv")
    return frames


def read_squad_json(path: str | Path) -> pd.DataFrame:
    """SQuAD-format JSON ({data: [{title, paragraphs: [{context, qas}]}]}) -> Hub-style flat rows."""
    rows = []
    for article in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                rows.append({
                    "id": qa["id"], "title": article.get("title", ""), "context": para["context"],
                    "question": qa["question"],
                    "answers": {"text": [a["text"] for a in qa["answers"]],
                                "answer_start": [a["answer_start"] for a in qa["answers"]]},
                })
    return pd.DataFrame(rows)
