"""envs/*.yaml (for --sdm conda) must list exactly the install metadata's dependencies."""
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_matches_pyproject(env):
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = yaml.safe_load(env.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert [p for p in pip if not p.startswith("-e")] == deps
    assert "-e .." in pip  # the project itself


def test_there_are_env_files():
    assert len(list((ROOT / "envs").glob("*.yaml"))) >= 1
