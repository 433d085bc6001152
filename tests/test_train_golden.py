"""The training loop's numbers are pinned: two tiny runs (fixed seeds, dev evaluations, one stopped by SIGTERM
in the middle and resumed) give, record for record, the train log and dev metrics recorded from the loop
before its restructuring into RunState and named phases (issue 28, base commit 0d08e18). A change meant to
be mechanical must leave them bit-identical; one that changes training on purpose re-records them:
XLT_RECORD_TRAIN_GOLDEN=1 pytest tests/test_train_golden.py (and says why in its commit).

Floating-point results depend on the CPU's vector unit and the torch build: where those differ from the
recording's (`environment` in the data file), the logs' structure (records, keys, steps, tasks drawn, tokens)
is compared exactly and their numbers to float rounding; the checkpoint digest and the job log's rounded
numbers only on the recording's environment."""
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from xlt.io import read_json
from xlt.steps import data, train
from xlt.train.loop import Preempted

GOLDEN = Path(__file__).parent / "golden" / "train_loop.json"
TIMING = {"step_s", "elapsed_s"}  # wall-clock: never equal twice
# the job log's lines (xlt/train/progress.py) without their time stamp and, on step lines, the throughput
JOB_LINE = re.compile(r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )?((?:train:|dev at|SIGTERM|NON-FINITE|step \d).*?)(?:  \S+ steps/s.*)?$")
QA = {"n_best": 5, "max_answer_length": 16}
RUNS = {
    # two tasks (mixing sampler, two shuffled streams), SMART (the strategy's own state), grad_accum 2,
    # periodic saves, SIGTERM after step 5: the resumed run must continue exactly
    "multitask-smart-resumed": {
        "tasks": ["paws_x", "squad"], "variant": {"method": "smart", "bregman": {"mu": 1.0, "beta": 0.9}},
        "cfg": {"learning_rate": 3e-3, "batch_size": 8, "grad_accum": 2, "max_steps": 8, "warmup_ratio": 0.25,
                "weight_decay": 0.01, "max_grad_norm": 1.0, "eval_every": 3, "eval_batch_size": 16, "save_every": 2},
        "mixing": {"cap": 50, "temperature": 2.0}, "seed": 5, "signal_at": "5:TERM"},
    # one task, FGM (perturbation ratios logged), subsampled and length-grouped, evaluated once per epoch
    "paws-fgm": {
        "tasks": ["paws_x"], "variant": {"method": "fgm", "epsilon": 0.05, "scale": "embedding"},
        "cfg": {"learning_rate": 2e-3, "batch_size": 8, "grad_accum": 1, "epochs": 2, "warmup_ratio": 0.1,
                "weight_decay": 0.0, "max_grad_norm": 0.5, "eval_batch_size": 16, "max_train_examples": 40,
                "group_by_length": True, "skip_nonfinite_steps": True, "save_every": None},
        "mixing": None, "seed": 2, "signal_at": None},
}


@pytest.fixture(scope="module")
def specs(fixtures_dir, tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("golden")
    out = {}
    for task, fcfg in (("paws_x", {"max_length": 48}), ("squad", {"max_length": 96, "doc_stride": 32, "max_query_length": 16})):
        for split in ("train", "dev"):
            data.featurize(task, str(fixtures_dir / task / f"{split}.parquet"), str(tiny_model_dir), fcfg,
                           str(tmp / f"{task}-{split}.parquet"))
        out[task] = {"name": task, "train": str(tmp / f"{task}-train.parquet"), "dev": str(tmp / f"{task}-dev.parquet"),
                     "dev_data": str(fixtures_dir / task / "dev.parquet"), "qa": QA}
    return out


def environment() -> dict:
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def tensor_digest(folder: Path) -> str:
    """sha256 over the checkpoint's tensors (names, dtypes, values), independent of file metadata."""
    h = hashlib.sha256()
    for name in ("model.safetensors", "heads.safetensors"):
        tensors = load_file(folder / name)
        for key in sorted(tensors):
            t = tensors[key].contiguous()
            h.update(f"{name}:{key}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def job_lines(text: str, out: Path, tiny_model_dir: Path) -> list[str]:
    lines = [m.group(1) for m in map(JOB_LINE.match, text.splitlines()) if m]
    return [line.replace(str(out), "<out>").replace(str(tiny_model_dir), "<model>") for line in lines]


def run(spec: dict, specs: dict, tiny_model_dir: Path, out: Path, monkeypatch, capsys) -> dict:
    """One run, on one thread (sums in a fixed order), stopped and resumed when the run says so."""
    capsys.readouterr()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tasks = [specs[t] for t in spec["tasks"]]
        args = (tasks, str(tiny_model_dir), spec["cfg"], spec["seed"], str(out / "ckpt"), str(out / "m.json"),
                str(out / "log.jsonl"))
        kwargs = {"mixing": spec["mixing"], "variant": spec["variant"]["method"], "variant_block": spec["variant"]}
        if spec["signal_at"]:
            monkeypatch.setenv("XLT_SIGNAL_AT_STEP", spec["signal_at"])
            with pytest.raises(Preempted):
                train.fine_tune_tasks(*args, **kwargs)
            monkeypatch.delenv("XLT_SIGNAL_AT_STEP")
            assert (out / "resume" / "state.pt").exists() and not (out / "log.jsonl").exists()
        train.fine_tune_tasks(*args, **kwargs)
    finally:
        torch.set_num_threads(threads)
    log = [json.loads(line) for line in open(out / "log.jsonl")]
    for record in log:
        for key in TIMING | {"model"}:  # `model` is the tiny model's (temporary) path
            record.pop(key, None)
    return {"log": log, "keys": [list(record) for record in log], "metrics": read_json(out / "m.json")["metrics"],
            "checkpoint": tensor_digest(out / "ckpt"), "job_log": job_lines(capsys.readouterr().out, out, tiny_model_dir)}


def close(actual, expected, path="") -> list[str]:
    """Differences beyond float rounding (rtol 1e-3) between two JSON values, by path."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(actual) != set(expected):
            return [f"{path}: keys {sorted(actual)} != {sorted(expected)}"]
        return [d for k in expected for d in close(actual[k], expected[k], f"{path}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} items != {len(expected)}"]
        return [d for i, (a, e) in enumerate(zip(actual, expected)) for d in close(a, e, f"{path}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return [] if abs(actual - expected) <= 1e-3 * max(1.0, abs(expected)) else [f"{path}: {actual} != {expected}"]
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]


def test_training_reproduces_the_recorded_runs(specs, tiny_model_dir, tmp_path, monkeypatch, capsys):
    runs = {name: run(spec, specs, tiny_model_dir, tmp_path / name, monkeypatch, capsys) for name, spec in RUNS.items()}
    if os.environ.get("XLT_RECORD_TRAIN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps({"environment": environment(), "runs": runs}, indent=1) + "\n")
        pytest.skip(f"recorded {GOLDEN}")
    golden = json.loads(GOLDEN.read_text())
    resumed = runs["multitask-smart-resumed"]["log"]
    assert {"resumed_at_step": 6} in resumed and [r["step"] for r in resumed if "loss" in r] == list(range(1, 9))
    assert sum("dev" in r for r in runs["paws-fgm"]["log"]) == 2 and "perturbation" in runs["paws-fgm"]["log"][1]
    assert any(line.startswith("train: resumed") for line in runs["multitask-smart-resumed"]["job_log"])
    if golden["environment"] == environment():  # the recording's CPU and torch: bit for bit
        assert runs == golden["runs"]
    else:  # another vector unit or torch build: the same run to float rounding
        for name in runs:
            for key in ("checkpoint", "job_log"):
                runs[name].pop(key), golden["runs"][name].pop(key)
        assert close(runs, golden["runs"]) == []


# state.pt's keys as the loop wrote them before RunState (base 0d08e18): a state saved then still resumes
LEGACY_STATE_KEYS = {"best", "best_score", "embedding_scale", "log_bytes", "model", "optimizer", "planner", "rng",
                     "scheduler", "skipped", "step", "strategy", "streams"}


def test_run_state_saves_every_field_under_the_keys_older_states_have(specs, tiny_model_dir):
    """RunState lists the run state once: state_dict() holds each field under the keys states have always had,
    and load_state_dict() brings every field back, counters included."""
    import dataclasses

    from xlt.adversarial.methods import make_strategy
    from xlt.model.modeling import build_model
    from xlt.train import loop
    from xlt.train.state import RunState

    def fresh():
        model = build_model(tiny_model_dir, {"paws_x": {"format": "classification", "num_labels": 2}}, seed=0)
        task = train.load_task_data(specs["paws_x"])
        cfg = loop.TrainConfig(max_steps=4, batch_size=8)
        data = loop.training_data([task], cfg, 0, {}, 3)
        schedule = loop.Schedule.of(cfg, data.sizes, {})
        trainable = [p for p in model.parameters() if p.requires_grad]
        return RunState(model, *loop.make_optimizer(trainable, cfg, schedule, torch.device("cpu")), data.generator,
                        data.streams, data.planner, make_strategy({"method": "smart", "bregman": {"mu": 1.0, "beta": 0.9}}))

    run = fresh()
    counters = {"embedding_scale": {"token_l2_rms": 0.25}, "step": 3, "best_score": 61.5,
                "best": {"paws_x": {"accuracy": 0.615, "step": 2}}, "skipped": 1, "log_bytes": 812}
    assert set(counters) == {f.name for f in dataclasses.fields(RunState) if f.default is not dataclasses.MISSING
                             or f.default_factory is not dataclasses.MISSING}  # every counter is set here
    for name, value in counters.items():
        setattr(run, name, value)
    run.planner.fill()  # micro-batches drawn ahead: part of the state
    run.strategy.after_optimizer_step(run.model)
    with torch.no_grad():
        next(run.model.parameters()).add_(1.0)
    state = run.state_dict()
    assert set(state) == LEGACY_STATE_KEYS
    back = fresh()
    back.load_state_dict(state)
    assert {name: getattr(back, name) for name in counters} == counters
    assert len(back.planner.pending) == len(run.planner.pending) > 0
    torch.testing.assert_close(back.model.state_dict(), run.model.state_dict())
    assert back.generator.get_state().equal(run.generator.get_state())
