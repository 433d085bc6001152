"""Code fingerprints (xlt/workflow/fingerprint.py): which package sources each step can run, keyed by the
step a rule names (params: step="xlt.steps.<module>:<function>")."""
import ast
import re
import shutil
from pathlib import Path

import pytest

from xlt.model.formats import FORMATS
from xlt.workflow.fingerprint import Fingerprints, step_fingerprints

ROOT = Path(__file__).resolve().parents[1]
TRAIN, TARGET = "xlt.steps.train:fine_tune", "xlt.steps.target:train_and_evaluate"
FIGURES, CURVES = "xlt.steps.report:figures", "xlt.steps.report:training_curves"


def rule_steps() -> set[str]:
    """Every step a rule names (rules/*.smk)."""
    return {m for f in (ROOT / "rules").glob("*.smk") for m in re.findall(r'step\("([\w.]+:\w+)"\)', f.read_text())}


def copy_tree(tmp_path):
    for name in ("xlt", "workflow_scripts"):
        shutil.copytree(ROOT / name, tmp_path / name)


def test_each_step_reaches_the_modules_it_runs_and_not_the_others():
    prints = Fingerprints(ROOT)
    assert rule_steps() <= prints.known  # every rule's step is one the fingerprint knows
    mods = {s: prints.modules(s) for s in rule_steps()}
    assert {"xlt.train.loop", "xlt.adversarial.methods", "xlt.adversarial.budgets", "xlt.model.modeling", "xlt.steps.train"} <= mods[TRAIN]
    assert "xlt.analysis.figures" in mods[FIGURES] and "xlt.analysis.figures" in mods[CURVES]
    # step modules count per function: the figures job never runs training code, the matrix job no statistics
    assert not {"xlt.train.loop", "xlt.adversarial.methods"} & mods[FIGURES]
    statistics = mods["xlt.steps.report:statistics"]
    assert "xlt.analysis.figures" not in statistics and "xlt.analysis.stats" in statistics
    assert not {"xlt.analysis.stats", "xlt.analysis.figures"} & mods["xlt.steps.report:build_matrix"]
    assert {"xlt.data.sources", "xlt.data.hub"} <= mods["xlt.steps.data:prepare_dataset"]
    # a target run trains and evaluates; the declaration it writes first is kept out on purpose
    assert {"xlt.steps.train", "xlt.steps.evaluate", "xlt.train.loop"} <= mods[TARGET]
    assert "xlt.analysis.preregistration" not in mods[TARGET]
    for m in mods.values():  # importing xlt.a.b runs the package __init__ files; the runner runs every step
        assert {"xlt", "xlt.workflow.runner", "xlt.workflow.warm"} <= m


def test_a_step_a_rule_cannot_name_is_refused_by_name():
    with pytest.raises(KeyError) as err:
        Fingerprints(ROOT)["xlt.steps.train:fine_tunes"]
    assert err.value.args[0].startswith("no step 'xlt.steps.train:fine_tunes': a rule names a public function")


def test_a_fingerprint_changes_with_the_code_it_covers_only(tmp_path):
    copy_tree(tmp_path)
    before = {s: v for s, v in step_fingerprints(tmp_path).items() if s in rule_steps()}
    assert set(before) == rule_steps()
    with open(tmp_path / "xlt" / "analysis" / "figures.py", "a") as fh:
        fh.write("\n# edit\n")
    after = step_fingerprints(tmp_path)
    assert {k for k in before if before[k] != after[k]} == {FIGURES, CURVES}
    with open(tmp_path / "xlt" / "adversarial" / "methods.py", "a") as fh:
        fh.write("\n# edit\n")
    changed = {k for k, v in step_fingerprints(tmp_path).items() if v != after[k] and k in rule_steps()}
    assert changed == {TRAIN, TARGET}
    with open(tmp_path / "xlt" / "workflow" / "runner.py", "a") as fh:  # the runner runs every step
        fh.write("\n# edit\n")
    last = step_fingerprints(tmp_path)
    assert {k for k in before if last[k] != before[k]} == rule_steps()


def test_editing_a_format_module_reruns_featurisation_training_and_evaluation(tmp_path):
    """The formats are chosen by name at run time (get_format): their modules must still be in the
    fingerprint of every step that featurises, trains or evaluates."""
    copy_tree(tmp_path)
    before = step_fingerprints(tmp_path)
    for fmt in FORMATS:
        with open(tmp_path / "xlt" / "model" / "formats" / f"{fmt}.py", "a") as fh:
            fh.write("\n# edit\n")
        after = step_fingerprints(tmp_path)
        changed = {k for k in before if before[k] != after[k]}
        assert {"xlt.steps.data:featurize", TRAIN, TARGET} <= changed, (fmt, changed)
        assert not {FIGURES, "xlt.steps.report:statistics", "xlt.steps.report:summary"} & changed, (fmt, changed)
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
    fingerprint reads from the step each rule names — may do that. A constant name is how a step keeps a
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
    assert constant == {("xlt/steps/target.py", "xlt.analysis.preregistration")}  # declares, predicts nothing
