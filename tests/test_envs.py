"""envs/*.yaml (for --sdm conda) must list exactly the install metadata's dependencies; a non-editable
install (a wheel) ships every data file the package reads."""
import fnmatch
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


def test_every_data_file_of_the_package_is_package_data():
    """Editable installs read xlt/ in place, so only this catches a data file a wheel would leave out (the
    config schema, after it moved to xlt/workflow/)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [p for p in (ROOT / "xlt").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert files, "the package has data files (xlt/workflow/schema.yaml)"
    for path in files:
        package = ".".join(path.parent.relative_to(ROOT).parts)
        assert any(fnmatch.fnmatch(path.name, pat) for pat in data.get(package, [])), \
            f"{path.relative_to(ROOT)} is not in [tool.setuptools.package-data] {package!r}: a wheel would miss it"
