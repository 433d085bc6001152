"""Shared fixtures: generated demo data and a tiny Bloom, built once per test session; the rule for tests
that need something outside the repository (needs_outside)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("XLT_WARM_IDLE_S", "30")  # warm servers started by tests exit soon after them
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core: one thread each (torch, BLAS, the SLURM and snakemake jobs the
    # tests start inherit it); more threads than cores made the suite slower, not faster (spinning threads)
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
# real TyDiQA-GoldP v1.1 files (README, quick start): ../shared/data/tydiqa-goldp beside the checkout by default
TYDIQA = Path(os.environ.get("XLT_TYDIQA_GOLDP") or ROOT.parent / "shared" / "data" / "tydiqa-goldp")
TYDIQA_FILES = ["train-en.json", *(f"dev/{lang}.json" for lang in ("ar", "en", "fi", "id", "ru", "sw"))]


def needs_outside(reason: str) -> None:
    """A test whose data or tool is not in the repository and not here: skip, with `reason` saying what is
    missing and how to get it — a researcher's clone passes without it. Under CI (CI=true), where everything
    is provided, a missing piece is a failure instead."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        pytest.fail(f"CI=true, so this is a failure, not a skip: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", name="needs_outside")
def needs_outside_fixture():
    """`needs_outside` for fixtures in other test modules."""
    return needs_outside


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
    from xlt.model.modeling import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="session")
def tydiqa_source() -> dict:
    missing = [f for f in TYDIQA_FILES if not (TYDIQA / f).exists()]
    if missing:
        what = f"{TYDIQA} lacks {', '.join(missing)}" if TYDIQA.is_dir() else f"no folder {TYDIQA}"
        needs_outside(
            f"real TyDiQA-GoldP v1.1 data not found ({what}). Put "
            "../shared/data/tydiqa-goldp beside the checkout, or set XLT_TYDIQA_GOLDP to a folder with "
            "train-en.json (the English questions of tydiqa-goldp-v1.1-train.json) and dev/<lang>.json for "
            "ar en fi id ru sw (tydiqa-goldp-v1.1-dev.json split by the id's language prefix), from "
            "https://storage.googleapis.com/tydiqa/v1.1/ (README, quick start)")
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


# The longest modules first: `make test` runs the suite on parallel workers (pytest-xdist, whole modules per
# worker), and a long module that starts last would finish alone. Order otherwise unchanged.
LONGEST_FIRST = ["test_slurm.py", "test_workflow.py", "test_pilot.py"]


def pytest_collection_modifyitems(items):
    def rank(item):
        name = Path(str(item.fspath)).name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a module and among the rest, collection order is kept
