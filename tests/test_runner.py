"""The step runner (workflow_scripts/step.py, xlt/workflow/runner.py): a rule's own input, output and params
names are its step's keyword arguments; wildcards, code, config and tmpdir where the step asks for them."""
from types import SimpleNamespace

import pytest
from snakemake.iocontainers import Namedlist

from xlt.io import read_json
from xlt.workflow import runner, warm


def job(rule="r", input=None, output=None, params=None, wildcards=None, resources=None, threads=4, log="job.log"):
    """Snakemake's `snakemake` object as a workflow script gets it (the parts the runner reads)."""
    named = lambda d: Namedlist(fromdict=d or {})  # noqa: E731
    return SimpleNamespace(rule=rule, input=named(input), output=named(output), params=named(params),
                           wildcards=named(wildcards), resources=named(resources or {"tmpdir": "/scratch"}),
                           threads=threads, log=Namedlist([log]), config={"execution": {"warm_workers": False}})


def test_a_rules_names_are_its_steps_keywords_and_the_rest_is_asked_for():
    smk = job(input={"points": Namedlist(["a.json", "b.json"])}, output={"result": "out.json"},
              params={"step": "xlt.steps.calibration:select", "code": "abc", "runs": ({"seed": 1},)},
              wildcards={"stage": "target", "task": "paws_x"})
    call = runner.step_call(smk)
    assert (call["module"], call["function"]) == ("xlt.steps.calibration", "select")
    # plain JSON values, as a warm worker gets them: named lists and tuples are lists
    assert call["kwargs"] == {"points": ["a.json", "b.json"], "result": "out.json", "runs": [{"seed": 1}]}
    assert call["optional"] == {"stage": "target", "task": "paws_x", "code": "abc", "tmpdir": "/scratch",
                                "config": smk.config}
    assert (call["threads"], call["gpu"], call["log"]) == (None, False, "job.log")  # no model run: no torch threads
    gpu = runner.step_call(job(params={"step": "m:f"}, resources={"gpu": 1, "tmpdir": "/t"}, threads=3))
    assert (gpu["threads"], gpu["gpu"]) == (3, True)


def test_a_rule_that_names_one_thing_twice_or_no_step_is_refused():
    with pytest.raises(ValueError, match=r"rule summary names `summary` in its input and its output: .*rename one"):
        runner.step_call(job("summary", input={"summary": "a.md"}, output={"summary": "a.html"}, params={"step": "m:f"}))
    with pytest.raises(ValueError, match=r"rule r names no step: give it params: step="):
        runner.step_call(job(params={"seed": 1}))


def test_the_step_gets_the_names_it_takes_wildcards_only_where_the_rule_has_no_such_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # xlt.io.write_json(obj, path): `path` as a wildcard is taken; `seed` is not asked for
    warm.execute("xlt.io", "write_json", {"obj": {"a": 1}}, "1.log", None, False, {"path": "w.json", "seed": "3"})
    assert read_json(tmp_path / "w.json") == {"a": 1}
    warm.execute("xlt.io", "write_json", {"obj": {"a": 2}, "path": "p.json"}, "2.log", None, False, {"path": "w2.json"})
    assert read_json(tmp_path / "p.json") == {"a": 2} and not (tmp_path / "w2.json").exists()  # the rule's name wins


def test_a_name_the_step_does_not_take_or_lacks_fails_the_job_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"xlt.io:write_json: got an unexpected keyword argument 'extra'"):
        warm.execute("xlt.io", "write_json", {"obj": {}, "path": "x.json", "extra": 1}, "job.log", None, False)
    with pytest.raises(TypeError, match=r"xlt.io:write_json: missing a required argument: 'path'"):
        warm.execute("xlt.io", "write_json", {"obj": {}}, "job.log", None, False, {"seed": "1"})
    assert "missing a required argument: 'path'" in (tmp_path / "job.log").read_text()  # the job's log says it too
    assert not (tmp_path / "x.json").exists()  # refused before it ran


def test_a_job_runs_its_step_through_the_runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner.run(job(output={"path": "out.json"}, params={"step": "xlt.io:write_json", "code": "x", "obj": {"k": [1]}},
                   log=str(tmp_path / "logs" / "job.log")))
    assert read_json(tmp_path / "out.json") == {"k": [1]} and (tmp_path / "logs" / "job.log").exists()
