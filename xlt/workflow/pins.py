"""Pinned commits of every repository the study reads (datasets, the model, the Cosmos QA files).

    python -m xlt.workflow.pins refresh [--config config.yaml]    # needs internet: the Hub API and GitHub

rewrites the managed `hub_revisions:` block of the config with the commit each repository's branch points
to now (main, or the branch a task names for a repository read through a conversion; the default branch of
a GitHub repository) — every repository the config reads: each model's design, the multi-task mix, the
targets, the calibration and selection tasks, the models. Every download then reads exactly these commits,
and every dataset and model artifact records the commit it was made from (attrs["provenance"] /
xlt_provenance.json). The DAG warns, naming them, while any repository is read unpinned."""
from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import yaml

from xlt.data.sources import COMMIT, part_revision
from xlt.data.tasks import HubPart, get_task
from xlt.workflow.config import dataset_source, model_revision
from xlt.workflow.designs import model_names
from xlt.workflow.plan import study_tasks

BEGIN = "# >>> hub_revisions"
END = "# <<< hub_revisions"


def study_repos(config: dict) -> dict[str, tuple[str, str]]:
    """{repository: (kind, branch)} for every Hub/URL repository the study's datasets and models read."""
    out = {}
    for name in study_tasks(config):
        if "hub" not in dataset_source(config, name):
            continue
        for part in get_task(name).hub.values():
            if isinstance(part, HubPart):
                out[part.repo] = ("dataset", part.revision or "main")
            else:
                out[part.repo] = ("github", "HEAD")
    for model in model_names(config):
        if "hub" in config["models"][model]:
            out[config["models"][model]["hub"]] = ("model", "main")
    return out


def unpinned(config: dict) -> list[str]:
    """The repositories the study reads at whatever commit their branch points to when the job runs: a
    part whose revision, as the download reads it (hub_revisions, datasets.<task>.hub.revisions /
    .revision), is no 40-hex commit, or a model without one (models.<name>.revision, hub_revisions). A
    repository several tasks read is pinned only when every one of them reads a commit. (A URL part
    without a pin reads the commit its task declares.)"""
    repos = set()
    for name in study_tasks(config):
        source, task = dataset_source(config, name), get_task(name)
        if "hub" in source:
            repos |= {part.repo for part in task.hub.values() if isinstance(part, HubPart)
                      and not COMMIT.match(str(part_revision(task, part, source["hub"]) or ""))}
    for model in model_names(config):
        if "hub" in config["models"][model] and not COMMIT.match(str(model_revision(config, model) or "")):
            repos.add(config["models"][model]["hub"])
    return sorted(repos)


def unpinned_warning(config: dict) -> str | None:
    """The DAG-time warning naming every unpinned repository (None when all are pinned)."""
    repos = unpinned(config)
    if not repos:
        return None
    return (f"warning: {len(repos)} repositor{'ies are' if len(repos) > 1 else 'y is'} read at the current commit of "
            f"a branch, not a pinned one: {', '.join(repos)}. A rerun may read other data or weights. Pin them: "
            "`python -m xlt.workflow.pins refresh --config <your config>` (needs internet) rewrites hub_revisions.")


def _ls_remote(repo: str, branch: str) -> str:
    url = f"https://github.com/{repo.split(':', 1)[1]}"
    out = subprocess.run(["git", "ls-remote", url, branch], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.split()[0]


def resolve(repos: dict[str, tuple[str, str]], api=None, ls_remote=_ls_remote) -> dict[str, str]:
    """The commit each repository's branch points to now."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    pins = {}
    for repo, (kind, branch) in sorted(repos.items()):
        if kind == "github":
            pins[repo] = ls_remote(repo, branch)
        elif kind == "model":
            pins[repo] = api.model_info(repo, revision=branch).sha
        else:
            pins[repo] = api.dataset_info(repo, revision=branch).sha
    return pins


def render(pins: dict[str, str]) -> str:
    lines = [f"{BEGIN} (python -m xlt.workflow.pins refresh rewrites this block)", "hub_revisions:"]
    lines += [f"  {repo}: \"{sha}\"" for repo, sha in sorted(pins.items())]  # quoted: a hex string can look numeric
    return "\n".join(lines + [END])


def refresh(config_path: Path, api=None, ls_remote=_ls_remote) -> dict[str, str]:
    """Resolve every repository of the config's study and rewrite its hub_revisions block in place."""
    from xlt.io import atomic_path

    text = config_path.read_text(encoding="utf-8")
    pins = resolve(study_repos(yaml.safe_load(text)), api, ls_remote)
    block = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not block.search(text):
        raise ValueError(f"{config_path} has no managed block ({BEGIN} ... {END}); add one to pin commits")
    with atomic_path(config_path) as tmp:
        tmp.write_text(block.sub(lambda _: render(pins), text), encoding="utf-8")
    return pins


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["refresh"])
    p.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[2] / "config.yaml")
    args = p.parse_args(argv)
    for repo, sha in refresh(args.config).items():
        print(f"{repo}: {sha}")


if __name__ == "__main__":
    main()
