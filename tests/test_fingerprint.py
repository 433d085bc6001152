"""Code fingerprints (xlt/workflow/fingerprint.py): which package sources each workflow script can run."""
import ast
import shutil
from pathlib import Path

from xlt.model.formats import FORMATS
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
    assert changed == {"train.py", "train_target.py"}


def test_editing_a_format_module_reruns_featurisation_training_and_evaluation(tmp_path):
    """The formats are chosen by name at run time (get_format): their modules must still be in the
    fingerprint of every script that featurises, trains or evaluates."""
    for name in ("xlt", "workflow_scripts"):
        shutil.copytree(ROOT / name, tmp_path / name)
    before = rule_fingerprints(tmp_path)
    for fmt in FORMATS:
        with open(tmp_path / "xlt" / "model" / "formats" / f"{fmt}.py", "a") as fh:
            fh.write("\n# edit\n")
        after = rule_fingerprints(tmp_path)
        changed = {k for k in before if before[k] != after[k]}
        assert {"featurize.py", "train.py", "train_target.py"} <= changed, (fmt, changed)
        assert not {"figures.py", "statistics.py", "summary.py"} & changed, (fmt, changed)
        before = after


# the ways Python loads a module by a name or path given as a value (importlib, __import__, runpy)
LOADERS = {"import_module", "__import__", "run_module", "run_path", "spec_from_file_location", "spec_from_loader"}


def _import_module_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in LOADERS:
            yield node


def test_no_module_is_loaded_by_a_name_the_fingerprint_cannot_read():
    """The fingerprint reads imports statically. A module loaded by a name built at run time would be
    missing from it (an edit there would re-run nothing), so only the warm runner — whose targets the
    fingerprint reads from warm.run's arguments — may do that. A constant name is how a script keeps a
    module out of its fingerprint on purpose; each such use is listed here."""
    dynamic, constant = [], set()
    for path in [*(ROOT / "xlt").rglob("*.py"), *(ROOT / "workflow_scripts").glob("*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        for call in _import_module_calls(path):
            if call.args and isinstance(call.args[0], ast.Constant):
                constant.add((rel, call.args[0].value))
            elif rel != "xlt/workflow/warm.py":
                dynamic.append(f"{rel}:{call.lineno}")
    assert dynamic == [], f"modules loaded by a run-time name (the fingerprint misses them): {dynamic}"
    assert constant == {("workflow_scripts/train_target.py", "xlt.analysis.preregistration")}  # declares, predicts nothing
