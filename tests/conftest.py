"""Shared fixtures: generated demo data and a tiny Bloom, built once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("XLT_WARM_IDLE_S", "30")  # warm servers started by tests exit soon after them

ROOT = Path(__file__).resolve().parents[1]
TYDIQA = ROOT.parent / "shared" / "data" / "tydiqa-goldp"


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory) -> Path:
    from xlt.demo.fixtures import write_fixtures

    out = tmp_path_factory.mktemp("fixtures")
    write_fixtures(out, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from xlt.demo.fixtures import pretraining_corpus
    from xlt.demo.tiny_model import build_tiny_bloom

    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    (spec,) = (m["demo"] for m in demo["models"].values())
    out = tmp_path_factory.mktemp("model") / "tiny-bloom"
    build_tiny_bloom(pretraining_corpus(demo.get("demo_fixtures_seed", 0)), out, **spec)  # the demo's own model
    return out


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from xlt.modeling import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="session")
def tydiqa_source() -> dict:
    if not TYDIQA.exists():
        pytest.fail(f"real TyDiQA-GoldP data expected at {TYDIQA} (shared/ beside the project)")
    return {"local": {"format": "squad_json", "files": {
        "train": str(TYDIQA / "train-en.json"),
        "validation": sorted(str(p) for p in (TYDIQA / "dev").glob("*.json")),
    }}}


@pytest.fixture()
def study_workdir(tmp_path, fixtures_dir, monkeypatch) -> Path:
    """A working directory where the study config is runnable: a (fixture) CCGbank export at the path
    config.yaml expects. The cwd is switched there (config validation checks local files exist)."""
    ccg = tmp_path / "data" / "ccgbank"
    ccg.mkdir(parents=True)
    for split in ("train", "dev"):
        (ccg / f"{split}.tsv").write_text((fixtures_dir / "ccg" / f"{split}.tsv").read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path
