"""One prepared GPU check of the fast path, sized for one short GPU slot (under 8 minutes on an H100/H200).

    python -m xlt.bench.gpucheck                       # on a CUDA machine (make gpu-check); JSON to $OUT or results/
    python -m xlt.bench.gpucheck --cpu-smoke           # every section on a CPU with tiny shapes (tests/test_gpucheck.py)
    python -m xlt.bench.gpucheck --sections bench      # rerun some sections only (inside the same lease)

Sections, run in this order (most important first, so a slot that runs out loses the benchmark's last
shape, not a correctness check), each with its own wall time, budget and projected time; an error in one
is recorded in the JSON and the next one runs:
  attention  SDPA ALiBi (xlt/model/attention.py) vs transformers' eager Bloom, logits and gradients (inputs_embeds
             and every parameter), right- and left-padded batches, fp32 and bf16 autocast; stated tolerances
  compile    graphs compiled by a short run of the real training loop (xlt/train/loop.py `train`) for standard
             and every variant of config.yaml: one graph per length bucket, no graph breaks (counted as
             tests/test_compile.py counts them: a dynamo backend that records each graph, run eagerly)
  memory     peak GPU memory of one standard step at the README's large-Bloom shape (16 x 384) for the
             bloom-560m and bloom-1b7 shapes, random weights: full fine-tuning, activation checkpointing,
             LoRA, LoRA + checkpointing (xlt/model/modeling.py's options)
  training   200 optimizer steps of a bloom-560m-shaped model through xlt/train/loop.py `train` with the study's
             training block (bf16, compile, sdpa, batch, length grouping) on random tokens: no graph beyond
             one per length bucket, no non-finite loss or gradient
  bench      xlt.bench.throughput's `run` at 32 x 128 and 16 x 384, every variant, HF eager vs fast path

The JSON is rewritten after every section (a killed run keeps what finished; the section in progress
says "running"). `ok` is true when every section ran and passed its checks; the benchmark's speed targets
are recorded next to the numbers but do not decide `ok` (they are goals, not correctness)."""
from __future__ import annotations

import argparse
import collections
import copy
import gc
import json
import math
import os
import platform
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from xlt.bench import throughput as bench

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 480  # one run must fit 8 minutes, so that a 15-minute slot can rerun it
SECTIONS = ("attention", "compile", "memory", "training", "bench")
# bigscience's published config.json of each model (no download: the weights are random)
SHAPES = {"bloom-560m": bench.ARCHS["bloom-560m"],
          "bloom-1b7": dict(vocab_size=250880, hidden_size=2048, n_layer=24, n_head=16),
          "tiny": bench.ARCHS["tiny"],
          "tiny-wide": dict(vocab_size=500, hidden_size=128, n_layer=2, n_head=4)}
# the README's estimated table ("Large Blooms on one 80 GB GPU", GB): printed next to the measurement
README_ESTIMATE_GB = {"bloom-560m": {"full": 19, "checkpointing": 10, "lora": 12, "lora+checkpointing": 3},
                      "bloom-1b7": {"full": 42, "checkpointing": 29, "lora": 22, "lora+checkpointing": 8}}
MEMORY_CONFIGS = ("full", "checkpointing", "lora", "lora+checkpointing")
LORA = {"r": 16, "alpha": 32, "dropout": 0.05}  # the README's LoRA block (default target modules)

# Tolerances of the attention check (relative L2 error ||a - b|| / ||b|| over the compared tensor).
# fp32: the two attentions compute the same function; only summation order differs.
# bf16: both run under autocast; SDPA's error against the fp32 eager reference may be at most BF16_FACTOR
# times eager's own bf16 error (the same linear layers round alike; SDPA's kernels keep fp32 softmax
# and accumulation, eager rounds its scores to bf16 first), floored at BF16_FLOOR and capped at BF16_CAP
# (a bad eager bf16 error does not excuse a bad SDPA one). The floor is tight on purpose: on the tiny
# CPU Bloom eager's bf16 error is ~2e-4 and a dropped ALiBi bias moves the logits by only ~4e-3.
TOL_FP32 = 1e-4
BF16_FACTOR, BF16_FLOOR, BF16_CAP = 2.0, 1e-3, 5e-2

# Projection model (assumptions, recorded in the JSON; compare with the measured wall times and adjust):
# effective throughput as a share of the GPU's dense bf16 peak, seconds per compiled graph, fixed costs.
ASSUME = {"gpu": {"startup_s": 15.0, "mfu_fast": 0.30, "mfu_eager": 0.12, "unknown_peak_flops": 150e12, "inductor_graph_s": 60.0,
                  "trace_graph_s": 3.0, "build_s_per_gparam": 4.0, "pass_overhead_s": 0.003, "hbm_bytes_s": 2e12},
          "cpu": {"startup_s": 8.0, "flops": 2e10, "inductor_graph_s": 0.0, "trace_graph_s": 1.5, "build_s_per_gparam": 40.0,
                  "pass_overhead_s": 0.01, "hbm_bytes_s": 5e9}}


def settings(smoke: bool) -> dict:
    """What each section runs: the GPU check, or the same code at tiny shapes on a CPU."""
    if not smoke:
        return {
            "attention": {"arch": "bloom-560m", "batch": 8, "seq": 128},
            # the compile counters need the graph's structure, not its depth: 2 layers at bloom-560m's width
            "compile": {"arch": dict(SHAPES["bloom-560m"], n_layer=2), "bucket": 64, "lengths": (8, 192), "n": 60,
                        "batch_size": 8, "steps": 10, "backend": "eager"},
            "memory": {"models": ["bloom-560m", "bloom-1b7"], "batch": 16, "seq": 384, "steps": 2, "warmup": 1},
            # two length bands, whose buckets (128, 384) are the benchmark's shapes
            "training": {"arch": "bloom-560m", "steps": 200, "min_steps": 50, "bands": [(65, 128), (321, 384)], "n": 1000,
                         "backend": "inductor", "bucket": 64, "overrides": {}},
            "bench": {"arch": "bloom-560m", "shapes": [(32, 128), (16, 384)], "steps": 10, "min_steps": 3, "warmup": 2,
                      "compile": None},
        }
    return {
        "attention": {"arch": "tiny", "batch": 4, "seq": 32},
        # one bucket (each graph costs seconds to trace on a CPU); the epoch's last batch is partial
        "compile": {"arch": SHAPES["tiny"], "bucket": 16, "lengths": (6, 16), "n": 6, "batch_size": 4, "steps": 2,
                    "backend": "eager"},
        "memory": {"models": ["tiny", "tiny-wide"], "batch": 2, "seq": 32, "steps": 1, "warmup": 1},
        # inductor is off here: its C++ compile of the tiny Bloom's one bucket took 35 s on one busy core
        # (2026-12-02); dynamo still traces and the graphs are counted, but they run eagerly
        "training": {"arch": "tiny", "steps": 8, "min_steps": 8, "bands": [(6, 16), (25, 32)], "n": 20,
                     "backend": "eager", "bucket": 16, "overrides": {"batch_size": 4, "grad_accum": 2}},
        "bench": {"arch": "tiny", "shapes": [(4, 32), (2, 64)], "steps": 1, "min_steps": 1, "warmup": 1,
                  "compile": False},
    }


# ------------------------------------------------------------------ time budget

def device_info() -> dict:
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"cuda": True, "name": props.name, "memory_gb": props.total_memory / 1e9,
                "peak_flops": bench.peak_flops(torch.device("cuda"))}
    return {"cuda": False, "name": f"CPU, {torch.get_num_threads()} threads", "memory_gb": None, "peak_flops": None}


def _params(arch: dict) -> float:
    d, layers = arch["hidden_size"], arch["n_layer"]
    return arch["vocab_size"] * d + 12 * layers * d * d


class Cost:
    """Seconds for passes, optimizer steps, builds and compiles on this device (the ASSUME model)."""

    def __init__(self, dev: dict):
        self.a = ASSUME["gpu" if dev["cuda"] else "cpu"]
        peak = dev["peak_flops"] or self.a.get("unknown_peak_flops")
        self.fast = peak * self.a["mfu_fast"] if dev["cuda"] else self.a["flops"]
        self.eager = peak * self.a["mfu_eager"] if dev["cuda"] else self.a["flops"]

    def pass_s(self, arch, batch, seq, fast=True, passes=1.0):
        """Forward + backward passes (one pass = 6 N flops per token, bench.step_flops)."""
        flops = bench.step_flops(arch, batch, seq, passes)
        return flops / (self.fast if fast else self.eager) + passes * self.a["pass_overhead_s"]

    def opt_s(self, arch):  # AdamW + clip: ~5 reads/writes of 4 bytes per parameter per state
        return 20 * 4 * _params(arch) / self.a["hbm_bytes_s"]

    def build_s(self, arch):
        return 0.5 + self.a["build_s_per_gparam"] * _params(arch) / 1e9


def _arch(a) -> dict:
    return SHAPES[a] if isinstance(a, str) else a


def plan(dev: dict, smoke: bool, limit_s: float = LIMIT_S, config: dict | None = None) -> dict:
    """Settings, budget and projected seconds per section. Budgets split the limit in proportion to the
    projections at full size; where a projection does not fit its budget (a slower GPU) the benchmark and
    the training run take fewer steps (down to their minimum), and `fits` says whether the total does."""
    s = settings(smoke)
    c = Cost(dev)
    config = config or yaml.safe_load((ROOT / "config.yaml").read_text())
    variants = _variants(config)
    passes = sum(_passes(b) for b in variants.values())
    proj = {}

    a = _arch(s["attention"]["arch"])
    # two builds, 2 sides x 2 precisions x 2 heads x (eager + sdpa) passes with backward
    proj["attention"] = 2 * c.build_s(a) + 16 * c.pass_s(a, s["attention"]["batch"], s["attention"]["seq"], fast=False)

    k = s["compile"]
    a = _arch(k["arch"])
    n_buckets = math.ceil(k["lengths"][1] / k["bucket"])
    proj["compile"] = sum(c.build_s(a) + n_buckets * c.a["trace_graph_s"]
                          + k["steps"] * (c.pass_s(a, k["batch_size"], k["lengths"][1], False, _passes(b)) + c.opt_s(a))
                          for b in variants.values())

    m = s["memory"]
    proj["memory"] = sum(c.build_s(SHAPES[name]) + (m["steps"] + m["warmup"]) * (
        2 * c.pass_s(SHAPES[name], m["batch"], m["seq"], fast=False) + c.opt_s(SHAPES[name]))
        for name in m["models"] for _ in MEMORY_CONFIGS)

    t = s["training"]
    a = _arch(t["arch"])
    train_cfg = {**study_training(config), **t["overrides"]}
    micro = train_cfg["batch_size"]
    mean_seq = np.mean([hi for _, hi in t["bands"]])

    def training_s(steps):
        step = train_cfg["grad_accum"] * c.pass_s(a, micro, mean_seq, fast=True) + c.opt_s(a)
        graph_s = c.a["inductor_graph_s"] if t["backend"] == "inductor" else c.a["trace_graph_s"]
        return c.build_s(a) + len(t["bands"]) * graph_s + steps * step + 10 * c.a["pass_overhead_s"]

    b = s["bench"]
    a_b = _arch(b["arch"])

    def bench_s(steps):
        n = steps + b["warmup"]
        total = 0.0
        for batch, seq in b["shapes"]:
            compiles = c.a["inductor_graph_s"] if (b["compile"] is None and dev["cuda"]) or b["compile"] else 0.0
            total += 2 * c.build_s(a_b) + compiles + 2.0  # two models, one compile, the data-path timing
            total += n * (c.pass_s(a_b, batch, seq, False, passes) + c.pass_s(a_b, batch, seq, True, passes))
            total += 2 * n * len(variants) * c.opt_s(a_b) + 2 * n * c.pass_s(a_b, batch, seq, False) / 3  # eval
        return total

    full = {**proj, "training": training_s(t["steps"]), "bench": bench_s(b["steps"])}
    share = limit_s - c.a["startup_s"]
    budget = {name: share * v / sum(full.values()) for name, v in full.items()} if not smoke else dict(full)
    # fewer steps where the full-size section does not fit its share
    steps = t["steps"]
    while steps > t["min_steps"] and training_s(steps) > budget["training"]:
        steps = max(t["min_steps"], int(steps * 0.8))
    t["steps"], proj["training"] = steps, training_s(steps)
    steps = b["steps"]
    while steps > b["min_steps"] and bench_s(steps) > budget["bench"]:
        steps -= 1
    b["steps"], proj["bench"] = steps, bench_s(steps)
    if smoke:  # no budget to share on a CPU: the smoke's projections are its budgets
        budget = dict(proj)
    items = {"compile": len(variants), "memory": len(m["models"]) * len(MEMORY_CONFIGS), "bench": len(b["shapes"])}
    for name, n in items.items():
        s[name]["item_projected_s"] = proj[name] / n
    total = sum(proj.values()) + c.a["startup_s"]
    return {"settings": s, "projected_s": proj, "budget_s": budget, "projected_total_s": total, "limit_s": limit_s,
            "startup_s": c.a["startup_s"], "fits": total <= limit_s, "assumptions": c.a}


# ------------------------------------------------------------------ helpers

def _variants(config: dict) -> dict:
    """config.yaml's variant blocks, each at the radius it states (a calibrated budget's chosen radius
    does not change a step's cost or graphs), as xlt.bench.throughput uses them."""
    return {n: {k: v for k, v in b.items() if k != "budget"} for n, b in config["variants"].items()}


def study_training(config: dict) -> dict:
    """The study's training block (training.defaults). A value chosen by the selection stage
    (`selected`) is not known before that stage runs: the largest value of its grid is used — for a
    stability check the hardest one."""
    out = dict(config["training"]["defaults"])
    grids = config.get("study", {}).get("selection", {}).get("intermediate", {}).get("grid", {})
    for key, value in out.items():
        if value == "selected":
            if not grids.get(key):
                raise ValueError(f"training.defaults.{key} is `selected` but study.selection.intermediate.grid has "
                                 f"no {key} values; give {key} a number for the GPU check")
            out[key] = max(grids[key])
    return out


def _passes(block: dict) -> float:
    from xlt.adversarial.methods import expected_cost

    return expected_cost(block)


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _check(name: str, value, limit, op: str = "<=", note: str | None = None) -> dict:
    ok = {"<=": lambda v, lim: v <= lim, ">=": lambda v, lim: v >= lim, "==": lambda v, lim: v == lim,
          "<": lambda v, lim: v < lim}[op]
    passed = bool(value is not None and (not isinstance(value, float) or math.isfinite(value)) and ok(value, limit))
    return {"name": name, "value": value, "op": op, "limit": limit, "ok": passed, **({"note": note} if note else {})}


def _clean(obj):
    """JSON without NaN/inf tokens (they are not JSON): non-finite floats become strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return _clean(obj.item())
    return obj


def _free(device) -> None:
    if device.type == "cuda":  # (a collection costs ~0.4 s on a CPU, where nothing waits for the memory)
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _precision(device) -> str:
    return "bf16 autocast (fp32 weights)" if device.type == "cuda" else "fp32 (the project's CPU path has no autocast)"


def _build(arch: dict, device, attention: str):
    """xlt.bench.throughput's model (random Bloom, seed 0, classification head "t"), initialised on `device` directly
    (a 1.7B-parameter random init on the CPU alone would take much of a section's budget)."""
    with torch.device(device):
        return bench.build(arch, device, attention, compiled=False)


# ------------------------------------------------------------------ section 1: attention

def _attention_pass(model, ids, mask, labels, weights, autocast):
    embeds = model.embed(ids).detach().requires_grad_()
    with autocast:
        cls = model(inputs_embeds=embeds, attention_mask=mask, task="cls")
        tok = model(inputs_embeds=embeds, attention_mask=mask, task="tok")
    real = tok[mask.bool()]  # token logits at real positions (pad positions carry the head's fill value)
    loss = torch.nn.functional.cross_entropy(cls.float(), labels) + (real.float() * weights).mean()
    loss.backward()
    grads = {n: p.grad.detach().float().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return {"logits": torch.cat([cls.detach().float().flatten(), real.detach().float().flatten()]),
            "inputs_grad": embeds.grad.detach().float(), "param_grads": grads}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _compare(out, ref) -> dict:
    """Relative errors of logits, the inputs_embeds gradient and all parameter gradients (one vector)."""
    names = sorted(ref["param_grads"])
    if sorted(out["param_grads"]) != names:
        raise AssertionError("the two models have gradients for different parameters")
    flat_o = torch.cat([out["param_grads"][n].flatten() for n in names])
    flat_r = torch.cat([ref["param_grads"][n].flatten() for n in names])
    worst = max(names, key=lambda n: _rel(out["param_grads"][n], ref["param_grads"][n]))
    return {"logits": _rel(out["logits"], ref["logits"]), "inputs_grad": _rel(out["inputs_grad"], ref["inputs_grad"]),
            "param_grads": _rel(flat_o, flat_r),
            "worst_param": worst, "worst_param_rel": _rel(out["param_grads"][worst], ref["param_grads"][worst]),
            "finite": bool(torch.isfinite(out["logits"]).all() and torch.isfinite(out["inputs_grad"]).all()
                           and torch.isfinite(flat_o).all())}


def section_attention(s: dict, device, clock) -> dict:
    from transformers import BloomConfig, BloomModel

    from xlt.model.attention import use_attention
    from xlt.model.formats import pad_batch
    from xlt.model.modeling import TaskModel, head_spec

    arch, batch, seq = _arch(s["arch"]), s["batch"], s["seq"]
    torch.manual_seed(0)
    with torch.device(device):
        eager = TaskModel(BloomModel(BloomConfig(**arch)), {"cls": head_spec("classification", 2),
                                                            "tok": head_spec("span_qa")}).eval()
    sdpa = copy.deepcopy(eager)
    switched = use_attention(sdpa.body, "sdpa")
    g = torch.Generator().manual_seed(0)
    lengths = np.linspace(seq, max(2, seq // 8), batch).astype(int)  # full rows and heavily padded rows
    seqs = [torch.randint(5, arch["vocab_size"], (int(n),), generator=g).tolist() for n in lengths]
    labels = torch.randint(0, 2, (batch,), generator=g).to(device)
    weights = torch.randn(2, generator=g).to(device)
    autocasts = {"fp32": torch.autocast(device.type, enabled=False),
                 "bf16": torch.autocast(device.type, dtype=torch.bfloat16)}
    checks, errors = [], {}
    for side in ("right", "left"):
        ids, mask = (t.to(device) for t in pad_batch(seqs, 3, side))
        outs = {(kind, prec): _attention_pass(model, ids, mask, labels, weights, autocasts[prec])
                for kind, model in (("eager", eager), ("sdpa", sdpa)) for prec in autocasts}
        ref = outs[("eager", "fp32")]
        fp32 = _compare(outs[("sdpa", "fp32")], ref)
        bf16 = _compare(outs[("sdpa", "bf16")], ref)
        eager_bf16 = _compare(outs[("eager", "bf16")], ref)
        errors[side] = {"sdpa_fp32_vs_eager_fp32": fp32, "sdpa_bf16_vs_eager_fp32": bf16,
                        "eager_bf16_vs_eager_fp32": eager_bf16}
        for q in ("logits", "inputs_grad", "param_grads"):
            checks.append(_check(f"{side}-padded fp32 {q}: rel. error SDPA vs eager", fp32[q], TOL_FP32))
            limit = min(max(BF16_FACTOR * eager_bf16[q], BF16_FLOOR), BF16_CAP)
            checks.append(_check(f"{side}-padded bf16 {q}: rel. error SDPA vs eager fp32", bf16[q], limit,
                                 note=f"eager bf16's own error {eager_bf16[q]:.2e}"))
        checks.append(_check(f"{side}-padded fp32 and bf16: SDPA outputs and gradients finite",
                             fp32["finite"] and bf16["finite"], True, "=="))
    return {"arch": arch, "batch": batch, "seq": seq, "lengths": lengths.tolist(), "modules_switched": switched,
            "tolerances": {"metric": "relative L2 error ||a - b|| / ||b|| (logits: classification + token logits at "
                                     "real positions; gradients: inputs_embeds, all parameters as one vector)",
                           "fp32": TOL_FP32, "bf16": f"min(max({BF16_FACTOR} x eager bf16 error, {BF16_FLOOR}), {BF16_CAP})"},
            "errors": errors, "checks": checks}


# ------------------------------------------------------------------ training runs (sections 2 and 5)

class _Tokenizer:
    """What `train` needs of a tokenizer when the data are random token ids: the pad id, and
    save_pretrained for the checkpoint it writes (a note instead of a vocabulary)."""

    pad_token_id = 3

    def save_pretrained(self, path) -> None:
        Path(path, "tokenizer.txt").write_text("random token ids (xlt.bench.gpucheck): no tokenizer\n")


def synthetic_task(vocab: int, lengths: np.ndarray, seed: int = 0):
    """A classification TaskData of random token sequences with the given lengths; the label is whether
    the first token is in the vocabulary's lower half (learnable, so the loss can move)."""
    from xlt.train.loop import TaskData, TaskSpec

    rng = np.random.default_rng(seed)
    ids = [rng.integers(5, vocab, size=int(n)) for n in lengths]
    feats = pd.DataFrame({"example_id": [f"r{i}" for i in range(len(ids))], "language": "en",
                          "input_ids": [x.tolist() for x in ids], "label": [int(x[0] < vocab // 2) for x in ids]})
    dev = feats.head(64).reset_index(drop=True)
    return TaskData(name="t", spec=TaskSpec(format="classification", selection_metric="accuracy"), train=feats,
                    dev=dev, dev_examples=pd.DataFrame({"id": dev["example_id"], "label": dev["label"]}))


_GRAPHS: list = []
_DELEGATE = {"backend": "eager"}


def _counting_backend(gm, example_inputs):
    """Record each graph dynamo hands over, then compile it with the delegate. A graph is described by its
    data inputs (not parameters): shapes without the (dynamic) batch dimension, and which need gradients."""
    data = [t for t in example_inputs if isinstance(t, torch.Tensor) and not isinstance(t, torch.nn.Parameter)]
    _GRAPHS.append({"length": int(data[0].shape[1]) if data and data[0].dim() > 1 else None,
                    "inputs": [[list(t.shape[1:]), bool(t.requires_grad)] for t in data]})
    if _DELEGATE["backend"] == "eager":
        return gm.forward
    return torch._dynamo.lookup_backend(_DELEGATE["backend"])(gm, example_inputs)


torch._dynamo.register_backend(_counting_backend, name="xlt_gpucheck_counter")


def counted_training(model, data, cfg: dict, block: dict, delegate: str, bucket: int) -> dict:
    """xlt/train/loop.py `train` with every compiled graph counted; the train log's steps and the graphs."""
    import xlt.train.loop as training
    from xlt.adversarial.methods import make_strategy

    old_env, old_bucket = os.environ.get("XLT_COMPILE_BACKEND"), training.BUCKET
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    _GRAPHS.clear()
    _DELEGATE["backend"] = delegate
    os.environ["XLT_COMPILE_BACKEND"] = "xlt_gpucheck_counter"
    training.BUCKET = bucket
    try:
        with tempfile.TemporaryDirectory(prefix="xlt-gpucheck-") as tmp:
            start = time.perf_counter()
            best = training.train(model, _Tokenizer(), [data], training.TrainConfig.from_dict(cfg), Path(tmp) / "ckpt",
                                  Path(tmp) / "log.jsonl", seed=1, strategy=make_strategy(block),
                                  variant=block.get("method", "standard"))
            wall = time.perf_counter() - start
            log = [json.loads(line) for line in open(Path(tmp) / "log.jsonl")]
    finally:
        torch._dynamo.reset()  # drop the graphs (and what their guards hold) before the next section
        training.BUCKET = old_bucket
        if old_env is None:
            os.environ.pop("XLT_COMPILE_BACKEND", None)
        else:
            os.environ["XLT_COMPILE_BACKEND"] = old_env
    steps = [r for r in log if "loss" in r]
    graph_lengths = [g["length"] for g in _GRAPHS]
    signatures = collections.Counter(json.dumps(g["inputs"]) for g in _GRAPHS)
    breaks = sum(torch._dynamo.utils.counters["graph_break"].values())
    data_buckets = sorted({int(math.ceil(n / bucket) * bucket) for n in data.train["input_ids"].map(len)})
    return {"wall_s": wall, "steps": len(steps), "losses": [r["loss"] for r in steps],
            "grad_norms": [r["grad_norm"] for r in steps], "elapsed_s": [r["elapsed_s"] for r in steps],
            "graphs": len(_GRAPHS), "graph_lengths": graph_lengths, "graph_breaks": breaks,
            "recompiles": sum(n - 1 for n in signatures.values()), "graph_inputs": [g["inputs"] for g in _GRAPHS],
            "data_buckets": data_buckets, "dev": best}


def graph_checks(run: dict, label: str, expected_steps: int) -> list[dict]:
    """One graph per length bucket (xlt/model/compiling.py): every pass and batch size reuses its bucket's graph.
    A second graph at a length is either a recompile of the same inputs (a guard that failed, e.g. on the
    batch size) or a pass whose inputs differ (e.g. embeddings that need no gradient): counted apart."""
    per_length = collections.Counter(run["graph_lengths"])
    extra = max(per_length.values(), default=0)
    return [
        _check(f"{label}: steps run", run["steps"], expected_steps, "=="),
        _check(f"{label}: recompiles (a graph compiled again for the same data inputs)", run["recompiles"], 0, "=="),
        _check(f"{label}: graphs per length bucket (every pass reuses its bucket's graph)", extra, 1, "==",
               note=None if extra <= 1 else "graphs at one length differ in their inputs (shape, requires_grad): "
                                            "see graph_inputs"),
        _check(f"{label}: graph lengths outside the data's buckets", len(set(per_length) - set(run["data_buckets"])),
               0, "=="),
        _check(f"{label}: graph breaks", run["graph_breaks"], 0, "=="),
        _check(f"{label}: non-finite losses or gradient norms",
               sum(not _finite(v) for v in run["losses"] + run["grad_norms"]), 0, "=="),
    ]


def section_compile(s: dict, device, clock, config: dict) -> dict:
    arch = _arch(s["arch"])
    rng = np.random.default_rng(0)
    lengths = rng.integers(s["lengths"][0], s["lengths"][1] + 1, size=s["n"])
    data = synthetic_task(arch["vocab_size"], lengths)
    cfg = {**study_training(config), "batch_size": s["batch_size"], "grad_accum": 1, "max_steps": s["steps"],
           "eval_every": s["steps"], "save_every": None, "compile": True, "group_by_length": True}
    runs, checks, skipped = {}, [], []
    for name, block in _variants(config).items():
        if clock.out_of_time(s.get("item_projected_s", 0.0)):
            skipped.append(name)
            continue
        model = _build(arch, device, cfg["attention"])
        run = counted_training(model, data, cfg, block, s["backend"], s["bucket"])
        del model
        _free(device)
        runs[name] = {k: v for k, v in run.items() if k not in ("losses", "grad_norms", "elapsed_s")}
        runs[name]["graph_inputs"] = [[x for x in g if x[0]] for g in run["graph_inputs"]]  # drop 0-d inputs
        checks += graph_checks(run, name, s["steps"])
    return {"arch": arch, "bucket": s["bucket"], "backend": f"dynamo, graphs counted, then run by {s['backend']!r}",
            "train_config": cfg, "data": {"n": s["n"], "lengths": list(s["lengths"]), "batch_size": s["batch_size"]},
            "runs": runs, "checks": checks, "skipped": skipped}


def section_training(s: dict, device, clock, config: dict) -> dict:
    arch = _arch(s["arch"])
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(lo, hi + 1, size=s["n"] // len(s["bands"])) for lo, hi in s["bands"]])
    data = synthetic_task(arch["vocab_size"], lengths)
    cfg = {**study_training(config), **s["overrides"], "max_steps": s["steps"], "eval_every": s["steps"],
           "save_every": None}
    model = _build(arch, device, cfg["attention"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    run = counted_training(model, data, cfg, {"method": "standard"}, s["backend"], s["bucket"])
    del model
    peak = torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None
    _free(device)
    gaps = np.diff([0.0] + run["elapsed_s"])
    steady = float(np.median(gaps[len(gaps) // 2:])) if len(gaps) else None  # past the compiles
    losses = run.pop("losses")
    grads = run.pop("grad_norms")
    run.pop("elapsed_s")
    run["train_wall_s"] = run.pop("wall_s")  # `train` alone (the section's wall_s adds the build)
    checks = graph_checks({**run, "losses": losses, "grad_norms": grads}, "standard", s["steps"])
    return {"arch": arch, "loop": "xlt/train/loop.py train (the project's training loop) on synthetic TaskData",
            "precision": _precision(device),
            "backend": f"dynamo, graphs counted, then compiled by {s['backend']!r}", "bucket": s["bucket"],
            "train_config": cfg, "data": {"n": len(lengths), "bands": s["bands"]}, **run,
            "loss_first10": float(np.mean(losses[:10])), "loss_last10": float(np.mean(losses[-10:])),
            "grad_norm_max": max(grads), "steady_step_s": steady,
            "samples_per_s": cfg["batch_size"] * cfg["grad_accum"] / steady if steady else None,
            "peak_mem_gb": peak, "checks": checks}


# ------------------------------------------------------------------ section 4: memory

def section_memory(s: dict, device, clock, config: dict) -> dict:
    from xlt.model.modeling import add_lora, enable_activation_checkpointing
    from xlt.train.loop import device_and_autocast

    _, autocast = device_and_autocast()
    rows, checks = [], []
    for name in s["models"]:
        arch = SHAPES[name]
        for kind in MEMORY_CONFIGS:
            row = {"model": name, "config": kind, "batch": s["batch"], "seq": s["seq"],
                   "readme_estimate_gb": README_ESTIMATE_GB.get(name, {}).get(kind)}
            if clock.out_of_time(s.get("item_projected_s", 0.0)):
                rows.append({**row, "skipped": "time budget"})
                continue
            _free(device)
            base = torch.cuda.memory_allocated() / 1e9 if device.type == "cuda" else None
            model = batch = None
            try:
                model = _build(arch, device, "sdpa")
                if "checkpointing" in kind:
                    enable_activation_checkpointing(model)
                if "lora" in kind:
                    add_lora(model, f"random weights ({name} shape)", **LORA)
                row["trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
                batch = bench.make_batch(arch["vocab_size"], s["batch"], s["seq"], device)
                row["s_per_step"] = bench.time_train(model, {"method": "standard"}, batch, s["steps"], s["warmup"],
                                                     device, autocast)
                row["fits"] = True
            except torch.cuda.OutOfMemoryError as e:
                row.update(fits=False, error=str(e).splitlines()[0])
            del model, batch
            if device.type == "cuda":
                row["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
                row["baseline_gb"] = base  # allocated before the model was built (should be ~0)
                row["peak_above_baseline_gb"] = row["peak_mem_gb"] - base
            else:
                row["peak_mem_gb"] = None  # no allocator statistics on a CPU: the smoke runs the code path only
            _free(device)
            rows.append(row)
        got = {r["config"]: r for r in rows if r["model"] == name and r.get("fits")}
        if {"full", "lora"} <= set(got):
            checks.append(_check(f"{name}: LoRA trains fewer parameters than full fine-tuning",
                                 got["lora"]["trainable_params"], got["full"]["trainable_params"], "<"))
        if device.type == "cuda":
            for less, more in (("checkpointing", "full"), ("lora", "full"), ("lora+checkpointing", "lora")):
                if {less, more} <= set(got):
                    checks.append(_check(f"{name}: peak memory {less} < {more} (GB)", got[less]["peak_mem_gb"],
                                         got[more]["peak_mem_gb"], "<"))
    return {"step": "standard, AdamW (fused on CUDA), SDPA attention, not compiled", "precision": _precision(device),
            "lora": LORA, "rows": rows, "checks": checks}


# ------------------------------------------------------------------ section 3: bench

def section_bench(s: dict, device, clock, config: dict) -> dict:
    variants = _variants(config)
    rows, skipped, compiled = [], [], None
    torch._dynamo.reset()
    for shape in s["shapes"]:
        if clock.out_of_time(s.get("item_projected_s", 0.0)):
            skipped.append(f"{shape[0]}x{shape[1]}")
            continue
        _free(device)
        _, compiled, got = bench.run(s["arch"], [shape], variants, s["steps"], s["warmup"], s["compile"])
        rows += got
    checks, summary = [], []
    for batch, seq in s["shapes"]:
        at = [r for r in rows if (r["batch"], r["seq"]) == (batch, seq)]
        if not at:
            continue
        train = {(r["path"], r["variant"]): r for r in at if r["kind"] == "train"}
        evals = {r["path"]: r for r in at if r["kind"] == "eval"}
        missing = [f"{p}/{v}" for p in ("hf-eager", "fast") for v in variants if (p, v) not in train]
        checks.append(_check(f"{batch}x{seq}: every variant timed on both paths (missing)", len(missing), 0, "=="))
        checks.append(_check(f"{batch}x{seq}: samples/s finite and > 0 (bad rows)",
                             sum(not (_finite(r["samples_per_s"]) and r["samples_per_s"] > 0)
                                 for r in list(train.values()) + list(evals.values())), 0, "=="))
        fast, eager = train.get(("fast", "standard")), train.get(("hf-eager", "standard"))
        summary.append({
            "shape": f"{batch}x{seq}",
            "speedup_fast_vs_hf_eager": eager["ms_per_step"] / fast["ms_per_step"] if fast and eager else None,
            "fast_samples_per_s": fast["samples_per_s"] if fast else None,
            "fast_mfu": fast.get("mfu") if fast else None,
            "eval_samples_per_s": {p: r["samples_per_s"] for p, r in evals.items()},
            "ratio_vs_passes": {v: {"ratio": r["ratio"], "passes": r["passes"]} for (p, v), r in train.items()
                                if p == "fast"}})
    return {"arch": s["arch"], "compiled": compiled, "precision": _precision(device), "steps": s["steps"],
            "warmup": s["warmup"], "rows": rows,
            "summary": summary, "targets": _targets(summary, device), "checks": checks, "skipped": skipped}


def _targets(summary: list[dict], device) -> list[dict]:
    """The README's goals for bloom-560m on a GPU (recorded, not part of `ok`)."""
    if device.type != "cuda":
        return []
    by = {s["shape"]: s for s in summary}
    out = []
    if "32x128" in by:
        out.append(_check("32x128: fast path / HF eager, standard step", by["32x128"]["speedup_fast_vs_hf_eager"], 2.5, ">="))
        out.append(_check("32x128: evaluation samples/s (fast path)", by["32x128"]["eval_samples_per_s"].get("fast"),
                          5000, ">="))
    if "16x384" in by:
        out.append(_check("16x384: MFU of the fast path, standard step", by["16x384"]["fast_mfu"], 0.40, ">="))
    return out


# ------------------------------------------------------------------ driver

class Clock:
    """The run's deadline. A section, or a section's next item (a variant, a memory configuration, a
    benchmark shape), starts only while at least half its projected time is left; else it is skipped and
    recorded (rerun it with --sections in the same lease)."""

    def __init__(self, limit_s: float):
        self.start, self.limit_s = time.perf_counter(), limit_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def out_of_time(self, projected_s: float = 0.0) -> bool:
        return self.elapsed() + 0.5 * projected_s >= self.limit_s


RUNNERS = {"attention": lambda s, d, c, cfg: section_attention(s, d, c), "compile": section_compile,
           "memory": section_memory, "training": section_training, "bench": section_bench}


def run_check(smoke: bool, out: Path, sections=SECTIONS, limit_s: float | None = None, config_path: Path | None = None,
              echo=print) -> dict:
    config = yaml.safe_load((config_path or ROOT / "config.yaml").read_text())
    dev = device_info()
    if not dev["cuda"] and not smoke:
        raise SystemExit("xlt.bench.gpucheck: no CUDA device here. On a GPU machine run `make gpu-check`; on a CPU "
                         "run the reduced check with --cpu-smoke.")
    limit_s = (LIMIT_S if not smoke else 120) if limit_s is None else limit_s
    p = plan(dev, smoke, limit_s, config)
    device = torch.device("cuda" if dev["cuda"] else "cpu")
    import transformers

    result = {"tool": "xlt.bench.gpucheck", "mode": "cpu-smoke" if smoke else "gpu", "device": dev,
              "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "limit_s": limit_s,
              "projected_total_s": p["projected_total_s"], "projection_fits": p["fits"], "assumptions": p["assumptions"],
              "order": list(sections), "sections": {}, "ok": False, "complete": False}  # (the JSON sorts keys)
    echo(f"xlt.bench.gpucheck ({result['mode']}) on {dev['name']}; torch {torch.__version__}; limit {limit_s:.0f} s; "
         f"projected {p['projected_total_s']:.0f} s{'' if p['fits'] else ' (OVER THE LIMIT: sections will be cut)'}")
    for name in sections:
        echo(f"  {name:<10} budget {p['budget_s'][name]:6.0f} s   projected {p['projected_s'][name]:6.0f} s")
    clock = Clock(limit_s - p["startup_s"])  # the imports before this point count against the limit too
    cpu0 = time.process_time()
    for name in sections:
        sec = {"status": "running", "budget_s": p["budget_s"][name], "projected_s": p["projected_s"][name],
               "settings": p["settings"][name]}
        result["sections"][name] = sec
        _write(result, out)
        start = time.perf_counter()
        if clock.out_of_time(sec["projected_s"]):
            sec.update(status="skipped", reason=f"less than half its projected time was left of the run's {limit_s:.0f} s")
        else:
            try:
                sec.update(RUNNERS[name](p["settings"][name], device, clock, config))
                failed = [c["name"] for c in sec.get("checks", []) if not c["ok"]]
                cut = sec.get("skipped") or [r for r in sec.get("rows", []) if r.get("skipped")]
                sec["status"] = "failed" if failed else ("incomplete" if cut else "ok")
                if failed:
                    sec["failed_checks"] = failed
            except Exception as e:  # recorded; the next section runs
                sec.update(status="error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
            _free(device)
        sec["wall_s"] = time.perf_counter() - start
        sec["over_budget"] = sec["wall_s"] > sec["budget_s"]
        echo(f"[{name}] {sec['status']} in {sec['wall_s']:.1f} s (projected {sec['projected_s']:.0f} s)"
             + (f": {sec.get('error') or ', '.join(sec.get('failed_checks', []))}" if sec["status"] in ("error", "failed") else ""))
        _write(result, out)
    result["wall_s"] = clock.elapsed()
    result["cpu_s"] = time.process_time() - cpu0  # this process's CPU time: the wall time a busy machine stretches
    result["ok"] = all(s["status"] == "ok" for s in result["sections"].values())
    result["complete"] = set(result["sections"]) == set(SECTIONS) and result["ok"]
    _write(result, out)
    echo(report(result))
    echo(f"JSON: {out}")
    return result


def _write(result: dict, out: Path) -> None:
    from xlt.io import write_json

    write_json(_clean(result), out)


def report(result: dict) -> str:
    """The human-readable summary: one line per section, then the numbers a reader looks for."""
    lines = [f"{'section':<10}{'status':<12}{'wall s':>8}{'projected':>10}{'budget':>8}"]
    for name in result["order"]:
        s = result["sections"][name]
        lines.append(f"{name:<10}{s['status']:<12}{s['wall_s']:>8.1f}{s['projected_s']:>10.0f}{s['budget_s']:>8.0f}")
    secs = result["sections"]
    for name, s in secs.items():
        for c in s.get("checks", []):
            if not c["ok"]:
                lines.append(f"  FAILED {name}: {c['name']}: {c['value']} (limit {c['op']} {c['limit']})")
    if "attention" in secs and "errors" in secs["attention"]:
        lines.append("attention (relative error vs eager fp32): side  logits  inputs_grad  param_grads")
        for side, e in secs["attention"]["errors"].items():
            for label, key in (("sdpa fp32", "sdpa_fp32_vs_eager_fp32"), ("sdpa bf16", "sdpa_bf16_vs_eager_fp32"),
                               ("eager bf16", "eager_bf16_vs_eager_fp32")):
                v = e[key]
                lines.append(f"  {side:<6}{label:<11}{v['logits']:>10.2e}{v['inputs_grad']:>12.2e}{v['param_grads']:>12.2e}")
    if "compile" in secs and "runs" in secs["compile"]:
        lines.append("compile: variant graphs lengths breaks")
        for v, r in secs["compile"]["runs"].items():
            lines.append(f"  {v:<10}{r['graphs']:>3}  {sorted(r['graph_lengths'])}  {r['graph_breaks']}")
    if "memory" in secs and "rows" in secs["memory"]:
        lines.append("memory: model config peak GB (README estimate)")
        for r in secs["memory"]["rows"]:
            got = "skipped" if r.get("skipped") else ("does not fit" if r.get("fits") is False else
                                                       (f"{r['peak_mem_gb']:.1f}" if r.get("peak_mem_gb") is not None else "n/a (CPU)"))
            lines.append(f"  {r['model']:<12}{r['config']:<20}{got:>12}  ({r['readme_estimate_gb']})")
    if "training" in secs and "steps" in secs["training"]:
        t = secs["training"]
        lines.append(f"training: {t['steps']} steps, graphs {t['graphs']} at lengths {sorted(t['graph_lengths'])}, "
                     f"loss {t['loss_first10']:.3f} -> {t['loss_last10']:.3f}, steady {t['samples_per_s'] or 0:.1f} "
                     f"samples/s, train() wall {t['train_wall_s']:.1f} s")
    if "bench" in secs and secs["bench"].get("rows"):
        lines.append(bench.table(secs["bench"]["rows"]))
        for c in secs["bench"].get("targets", []):
            lines.append(f"  target {'met' if c['ok'] else 'NOT met'}: {c['name']} = {c['value']} ({c['op']} {c['limit']})")
    lines.append(f"ok: {result['ok']}  complete: {result['complete']}  wall: {result.get('wall_s', 0):.1f} s  "
                 f"(CPU time {result.get('cpu_s', 0):.1f} s)")
    return "\n".join(lines)


def default_out() -> Path:
    return Path(os.environ["OUT"]) / "gpucheck.json" if os.environ.get("OUT") else ROOT / "results" / "gpucheck.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="the JSON (default: $OUT/gpucheck.json, else results/)")
    p.add_argument("--cpu-smoke", "--reduced", dest="smoke", action="store_true",
                   help="every section on a CPU at tiny shapes (fp32 where the project's CPU path is fp32)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--limit-s", type=float, default=None, help=f"the run's time limit (default {LIMIT_S} s on a GPU)")
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    args = p.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"--sections: unknown {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.smoke:
        result = run_smoke(args.out or default_out(), sections, limit_s=args.limit_s, config_path=args.config)
    else:
        result = run_check(False, args.out or default_out(), sections, args.limit_s, args.config)
    return 0 if result["ok"] else 1


def run_smoke(out: Path, sections=SECTIONS, **kw) -> dict:
    """The CPU smoke on one thread: tiny shapes gain nothing from a second one, and OpenMP's spinning
    threads on a CPU shared with other jobs made it 10-100x slower (measured: 0.2 s vs 2-16 s for the
    attention section on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_check(True, out, sections, **kw)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    raise SystemExit(main())
