"""Where a dataset comes from: the Hub (default), local raw files, or already-normalised parquet.

Config (`datasets.<task>` in config.yaml), one of:
  {hub: {revisions: {<repo>: <commit>}}}          # the task's Hub repos (needs internet, or a warm cache);
                                                  #   commits per repository (config: hub_revisions pins
                                                  #   them all; `revision` only for single-repo tasks)
  {local: {format: parquet|json|csv|squad_json|ccg_tsv,   # raw files with the Hub's columns
           files: {<raw key>: path or [paths]}}}  #   raw keys: Task.hub in xlt/data/tasks (README lists them)
  {normalised: <dir>}                             # <dir>/<split>.parquet in the normalised schema
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pandas as pd

from xlt.data.hub import HubUnavailable, go_offline, offline_reason, unreachable
from xlt.data.schemas import check_frame
from xlt.data.tasks import HubPart, Task, UrlPart

COMMIT = re.compile(r"^[0-9a-f]{40}$")


class SourceError(ValueError):
    pass


def prepare_split(task: Task, source: dict, split: str) -> pd.DataFrame:
    """Load one normalised split of `task` from `source` and check it against the schema. The frame's
    attrs["provenance"] say where it came from (source kind, commits read or files and their hashes)."""
    if split not in task.parts:
        raise SourceError(f"task {task.name!r} has no split {split!r}; it has {list(task.parts)}")
    where = f"dataset {task.name!r}, split {split!r}"
    if "normalised" in source:
        path = Path(source["normalised"]) / f"{split}.parquet"
        if not path.exists():
            raise SourceError(f"{where}: {path} does not exist; datasets.{task.name}.normalised must be "
                              f"a folder holding {', '.join(s + '.parquet' for s in task.parts)}")
        df = pd.read_parquet(path)
        provenance = {"source": "normalised", "files": {split: file_digest(path)}}
    else:
        keys = task.parts[split]
        if "local" in source:
            raw = load_local(task, source["local"], keys)
            provenance = {"source": "local", "files": {k: file_digest(p) for k in keys
                                                       for p in _paths(source["local"]["files"][k])}}
        else:
            commits = {}
            raw = load_hub(task, source.get("hub") or {}, keys, commits)
            provenance = {"source": "hub", "revisions": commits}
        check_raw_columns(task, raw, where, source["local"]["files"] if "local" in source else None)
        df = task.normalise(raw, split)
    df = check_frame(df, task.format, where)
    df.attrs["provenance"] = provenance
    if split != "test" and (df["language"] != "en").any():
        raise SourceError(f"{where}: training and model-selection splits must be English only (strict "
                          f"zero-shot), found languages {sorted(set(df['language']) - {'en'})}")
    return df


def check_raw_columns(task: Task, raw: dict[str, pd.DataFrame], where: str, files: dict | None) -> None:
    """Every raw part has the columns the task's normaliser reads (the Hub copy's): a file in the source's
    original layout (e.g. CommonsenseQA's own JSONL, MultiNLI's sentence1/gold_label) gets an error naming
    the expected and the found columns instead of a KeyError from inside the normaliser."""
    for key, df in raw.items():
        missing = [c for c in task.columns if c not in df.columns]
        if not missing:
            continue
        origin = f" ({', '.join(_paths(files[key]))})" if files else ""
        fix = ("Local files must have the Hub copy's columns, not the original release's layout: convert them "
               "(README: raw keys per task), or read the task from the Hub." if files else
               "The Hub copy at this revision has other columns: pin the commit the study was written for "
               "(hub_revisions in config.yaml).")
        raise SourceError(f"{where}: raw part {key!r}{origin} lacks column(s) {missing}; {task.name} expects the "
                          f"Hub's columns {list(task.columns)}, found {sorted(map(str, df.columns))}. {fix}")


def part_revision(task: Task, part, hub_cfg: dict) -> str | None:
    """The revision a raw part is read at: a pin for its repository (hub.revisions), else `hub.revision`
    (single-repository tasks), else the task's own default (a branch such as refs/convert/parquet for
    script-only repos, or the pinned commit of a URL part)."""
    pinned = (hub_cfg.get("revisions") or {}).get(part.repo) or hub_cfg.get("revision")
    if pinned and part.revision and not COMMIT.match(pinned) and pinned != part.revision:
        raise SourceError(f"datasets.{task.name}: {part.repo} must be read at {part.revision} (its loadable "
                          f"copy); pin a 40-hex commit of that branch, not {pinned!r}")
    return pinned or part.revision


def load_hub(task: Task, hub_cfg: dict, keys: list[str], provenance: dict | None = None) -> dict[str, pd.DataFrame]:
    """Download the raw parts from where the task is published (the Hub, or a URL), or — offline — read them
    from the local caches those downloads fill. `provenance` collects {repo: commit read}."""
    if task.local_only:
        raise SourceError(task.local_only)
    fix = (f"Download them where you have internet (`snakemake --cores 1 download`), or set datasets.{task.name}"
           f".local in the config to files on disk (raw keys: {', '.join(keys)}).")
    # the Hub is probed (and HF_HUB_OFFLINE obeyed) only for Hub parts: a file published elsewhere (Cosmos QA
    # on GitHub) is fetched whatever the Hub's state, and its own host is probed when it is not cached
    offline = offline_reason() if any(isinstance(task.hub[k], HubPart) for k in keys) else None
    if offline:
        go_offline()
    frames = {}
    for key in keys:
        part = task.hub[key]
        revision = part_revision(task, part, hub_cfg)
        if isinstance(part, UrlPart):
            frames[key] = fetch_url(part, revision, fix)
            commit = revision
        else:
            frames[key], commit = load_hub_part(part, revision, fix, offline)
        if provenance is not None:
            provenance[part.repo] = commit
    return frames


def load_hub_part(part: HubPart, revision: str | None, fix: str, offline: str | None) -> tuple[pd.DataFrame, str]:
    """One Hub split; online at the commit `revision` resolves to now (recorded), offline from the datasets
    cache (the commit it was made from cannot be checked then: recorded as such)."""
    import datasets  # heavy import, only when actually downloading

    if offline:
        try:
            ds = datasets.load_dataset(part.repo, part.config, split=part.split, revision=revision)
        except Exception as err:  # noqa: BLE001 — whatever the cache lookup raised, the fix is the same
            raise HubUnavailable(
                f"Cannot download dataset {part.repo} from the Hugging Face Hub: {offline}, and the local cache "
                f"({datasets.config.HF_DATASETS_CACHE}) holds no copy of {part.repo} {part.config or ''} "
                f"{part.split} ({err.__class__.__name__}). {fix}") from None
        print(f"{part.repo} {part.config or ''} {part.split}: read from the local cache ({offline})", flush=True)
        return ds.to_pandas(), f"{revision or 'main'} (offline cache, unverified)"
    from huggingface_hub import HfApi

    commit = HfApi().dataset_info(part.repo, revision=revision).sha  # load exactly what gets recorded
    ds = datasets.load_dataset(part.repo, part.config, split=part.split, revision=commit)
    return ds.to_pandas(), commit


def url_cache(url: str) -> Path:
    root = Path(os.environ.get("XLT_CACHE") or Path.home() / ".cache" / "xlt")
    return root / "urls" / (hashlib.sha256(url.encode()).hexdigest()[:24] + Path(url).suffix)


def fetch_url(part: UrlPart, revision: str | None, fix: str, timeout: float = 3.0) -> pd.DataFrame:
    """A raw file at a pinned commit, downloaded once into the xlt cache (XLT_CACHE, ~/.cache/xlt) and read
    from there — offline too. Its host is probed as the Hub is (proxies honoured, `timeout` s in all);
    urllib reads the same proxy variables. CSVs are read as text: no NA parsing ("None" and "NA" are answers)."""
    import urllib.request

    from xlt.io import atomic_path

    url = part.url_at(revision)
    cached = url_cache(url)
    if not cached.exists():
        reason = unreachable(url, timeout)
        if reason:
            raise HubUnavailable(f"Cannot download {url}: {reason}, and the cache has no copy ({cached}). {fix}")
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(cached) as tmp:
            tmp.write_bytes(response.read())
    if part.format == "csv":
        return read_text_csv(cached)
    return pd.read_json(cached, lines=True, dtype=False)


def read_text_csv(path) -> pd.DataFrame:
    """A CSV as text, for local `format: csv` files and CSVs fetched by URL alike: no NA parsing and no type
    guessing, so an answer that is literally "None", "NA", "N/A", "null" or empty stays that string (pandas'
    defaults, and so `datasets`' csv loader, turn them into missing values). Normalisers convert labels."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


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
            from xlt.data.tasks.ccg import read_ccg_tsv

            frames[key] = pd.concat([read_ccg_tsv(p) for p in paths], ignore_index=True)
        elif fmt == "csv":
            frames[key] = pd.concat([read_text_csv(p) for p in paths], ignore_index=True)
        elif fmt in ("parquet", "json"):
            import datasets

            frames[key] = datasets.load_dataset(fmt, data_files=paths, split="train").to_pandas()
        else:
            raise SourceError(f"datasets.{task.name}.local.format is {fmt!r}; "
                              f"use one of parquet, json, csv, squad_json, ccg_tsv")
    return frames


def _paths(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def file_digest(path) -> str:
    """`<path>@sha256:<first 16 hex>`: which local file, and which bytes of it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"{path}@sha256:{h.hexdigest()[:16]}"


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
