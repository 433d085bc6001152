"""Code fingerprints (xlt/workflow/fingerprint.py): which package sources each workflow script can run."""
import shutil
from pathlib import Path

from xlt.workflow.fingerprint import rule_fingerprints, script_modules

ROOT = Path(__file__).resolve().parents[1]


def test_each_script_reaches_the_modules_it_runs_and_not_the_others():
    mods = {s.name: script_modules(s, ROOT) for s in (ROOT / "workflow_scripts").glob("*.py")}
    assert {"xlt.train.loop", "xlt.adversarial.methods", "xlt.adversarial.budgets", "xlt.model.modeling", "xlt.steps.train"} <= mods["train.py"]
    assert "xlt.analysis.figures" in mods["figures.py"] and "xlt.analysis.figures" in mods["training_curves.py"]
    # step modules count per function: the figures job never runs training code, the matrix job no statistics
    assert not {"xlt.train.loop", "xlt.adversarial.methods"} & mods["figures.py"]
    assert "xlt.analysis.figures" not in mods["statistics.py"] and "xlt.analysis.stats" in mods["statistics.py"]
    assert not {"xlt.analysis.stats", "xlt.analysis.figures"} & mods["build_matrix.py"]
    assert {"xlt.data.sources", "xlt.data.hub"} <= mods["prepare_dataset.py"]
    for m in mods.values():  # importing xlt.a.b runs the package __init__ files
        assert "xlt" in m


def test_a_fingerprint_changes_with_the_code_it_covers_only(tmp_path):
    for name in ("xlt", "workflow_scripts"):
        shutil.copytree(ROOT / name, tmp_path / name)
    before = rule_fingerprints(tmp_path)
    assert set(before) == {p.name for p in (ROOT / "workflow_scripts").glob("*.py")}
    with open(tmp_path / "xlt" / "analysis" / "figures.py", "a") as fh:
        fh.write("\n# edit\n")
    after = rule_fingerprints(tmp_path)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"figures.py", "training_curves.py"}
    with open(tmp_path / "xlt" / "adversarial" / "methods.py", "a") as fh:
        fh.write("\n# edit\n")
    changed = {k for k, v in rule_fingerprints(tmp_path).items() if v != after[k]}
    assert changed == {"train.py", "evaluate.py"}
