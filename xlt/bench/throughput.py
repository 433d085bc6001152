"""Training and evaluation speed: HF eager Bloom vs this project's fast path, on whatever device is here.

    python -m xlt.bench.throughput                                   # bloom-560m architecture on a GPU (the study's)
    python -m xlt.bench.throughput --arch tiny --shapes 32x128,16x384 --steps 5     # CPU-sized
    python -m xlt.bench.throughput --json bench.json                 # also write the table

For each shape (batch x tokens) and each training variant of config.yaml: samples/s and model-FLOPs
utilisation of one optimizer step (the variant's forward/backward passes, clip, AdamW) for
  hf-eager  transformers' eager Bloom attention, no compile;
  fast      SDPA ALiBi attention (xlt/model/attention.py) + torch.compile (xlt/model/compiling.py; on CUDA, or --compile);
the variant's step time relative to standard on the same path next to its pass count; evaluation
samples/s (inference mode, one forward) at each shape; the data path's time to build one batch from
arrays (xlt/model/formats) and, for comparison, from pandas rows; peak GPU memory per configuration.

MFU counts the model FLOPs of the passes a step runs (6 N per token per forward+backward pass, 2 N per
forward-only pass, N = non-embedding parameters, plus 12 L d s per token for attention scores; Kaplan et
al. 2020 / PaLM appendix B) against the device's dense bf16 peak (known GPUs only; n/a on a CPU)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from xlt.adversarial.methods import StepContext, expected_cost, make_strategy
from xlt.model.attention import use_attention
from xlt.model.compiling import compile_body
from xlt.model.formats import get_format
from xlt.model.modeling import TaskModel, head_spec

ROOT = Path(__file__).resolve().parents[2]
# bigscience/bloom-560m's published config.json (no download needed), and the demo's shape
ARCHS = {
    "bloom-560m": dict(vocab_size=250880, hidden_size=1024, n_layer=24, n_head=16),
    "tiny": dict(vocab_size=500, hidden_size=64, n_layer=2, n_head=4),
}
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12,
             "L4": 121e12}


def peak_flops(device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def step_flops(arch: dict, batch: int, seq: int, passes: float) -> float:
    """Model FLOPs of `passes` forward+backward passes over batch x seq tokens."""
    d, layers = arch["hidden_size"], arch["n_layer"]
    non_embedding = 12 * layers * d * d  # attention (4 d^2) + MLP (8 d^2) per layer
    per_token = 6 * non_embedding + 12 * layers * d * seq
    return passes * per_token * batch * seq


def build(arch: dict, device, attention: str = "eager", compiled: bool = False) -> TaskModel:
    """A randomly initialised Bloom (BloomConfig kwargs `arch`, seed 0) with a classification head, training."""
    from transformers import BloomConfig, BloomModel

    torch.manual_seed(0)
    model = TaskModel(BloomModel(BloomConfig(**arch)), {"t": head_spec("classification", 2)}).to(device)
    use_attention(model.body, attention)
    if compiled:
        compile_body(model)
    return model.train()


def make_batch(vocab_size: int, batch: int, seq: int, device) -> dict:
    """Random tokens (seed 0), a quarter of the rows padded as real batches are, random binary labels."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab_size, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[: batch // 4, seq * 3 // 4:] = 0  # a quarter of the rows padded, as real batches are
    return {k: v.to(device) for k, v in {"input_ids": ids, "attention_mask": mask,
                                         "labels": torch.randint(0, 2, (batch,), generator=g)}.items()}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_train(model, block, batch, steps, warmup, device, autocast) -> float:
    from xlt.adversarial.budgets import measure_embedding_scale

    strategy = make_strategy(block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=device.type == "cuda")
    fmt = get_format("classification")
    scale = measure_embedding_scale(model, [batch])["token_l2_rms"]  # once per run, as training does

    def apply(m, embeds):
        with autocast:
            return m(inputs_embeds=embeds, attention_mask=batch["attention_mask"], task="t")

    def one_step():
        ctx = StepContext(model=model, batch=batch, task="t", fmt=fmt, apply=apply, scale=1.0, embedding_scale=scale)
        strategy.step(ctx)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        strategy.after_optimizer_step(model)

    for _ in range(warmup):
        one_step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    _sync(device)
    return (time.perf_counter() - start) / steps


@torch.inference_mode()
def time_eval(model, batch, steps, warmup, device, autocast) -> float:
    model.eval()
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        with autocast:
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], task="t")
    _sync(device)
    model.train()
    return (time.perf_counter() - start) / steps


def time_data_path(batch: int, seq: int, repeats: int = 20) -> tuple[float, float]:
    """ms to build one span-QA-like batch from arrays, and from pandas rows (the old path)."""
    from xlt.model.formats import pad_batch, span_qa

    rng = np.random.default_rng(0)
    n = 5000
    lens = rng.integers(seq // 2, seq + 1, size=n)
    feats = pd.DataFrame({"input_ids": [rng.integers(5, 1000, size=k).tolist() for k in lens],
                          "start_position": rng.integers(0, seq // 2, size=n), "end_position": rng.integers(0, seq // 2, size=n)})
    arrays = span_qa.arrays(feats)
    idx = [rng.choice(n, size=batch, replace=False) for _ in range(repeats)]
    t0 = time.perf_counter()
    for i in idx:
        span_qa.collate_arrays(arrays, i, 0)
    fast = (time.perf_counter() - t0) / repeats * 1000
    t0 = time.perf_counter()
    for i in idx:  # per-batch pandas row access + per-row padding, as before
        rows = feats.iloc[i]
        pad_batch(rows["input_ids"].tolist(), 0)
        torch.tensor(rows["start_position"].values), torch.tensor(rows["end_position"].values)
    slow = (time.perf_counter() - t0) / repeats * 1000
    return fast, slow


def run(arch: str, shapes: list[tuple[int, int]], variants: dict, steps: int, warmup: int, compile_flag: bool | None):
    from xlt.train.loop import device_and_autocast

    device, autocast = device_and_autocast()
    compiled = device.type == "cuda" if compile_flag is None else compile_flag
    paths = {"hf-eager": ("eager", False), "fast": ("sdpa", compiled)}
    peak = peak_flops(device)
    rows = []
    for batch_size, seq in shapes:
        batch = make_batch(ARCHS[arch]["vocab_size"], batch_size, seq, device)
        for path, (attention, comp) in paths.items():
            model = build(ARCHS[arch], device, attention, comp)
            base = None
            for name, block in variants.items():
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                t = time_train(model, block, batch, steps, warmup, device, autocast)
                base = base or t
                passes = expected_cost(block)
                flops = step_flops(ARCHS[arch], batch_size, seq, passes)
                rows.append({"kind": "train", "path": path, "variant": name, "batch": batch_size, "seq": seq,
                             "ms_per_step": t * 1000, "samples_per_s": batch_size / t, "ratio": t / base,
                             "passes": passes, "mfu": flops / t / peak if peak else None,
                             "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None})
            t = time_eval(model, batch, steps, warmup, device, autocast)
            rows.append({"kind": "eval", "path": path, "variant": "-", "batch": batch_size, "seq": seq,
                         "ms_per_step": t * 1000, "samples_per_s": batch_size / t})
            del model
        fast, slow = time_data_path(batch_size, seq)
        rows.append({"kind": "data", "path": "arrays", "batch": batch_size, "seq": seq, "ms_per_batch": fast})
        rows.append({"kind": "data", "path": "pandas rows", "batch": batch_size, "seq": seq, "ms_per_batch": slow})
    return device, compiled, rows


def table(rows: list[dict]) -> str:
    out = [f"{'kind':<6}{'path':<12}{'variant':<10}{'shape':>8}{'ms':>10}{'samples/s':>11}{'ratio':>7}{'passes':>7}"
           f"{'MFU':>7}{'mem GB':>8}"]
    for r in rows:
        shape = f"{r['batch']}x{r['seq']}"
        if r["kind"] == "data":
            out.append(f"{'data':<6}{r['path']:<12}{'':<10}{shape:>8}{r['ms_per_batch']:>10.2f}")
            continue
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "n/a"
        mem = f"{r['peak_mem_gb']:.1f}" if r.get("peak_mem_gb") is not None else "n/a"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        passes = f"{r['passes']:g}" if "passes" in r else ""
        out.append(f"{r['kind']:<6}{r['path']:<12}{r['variant']:<10}{shape:>8}{r['ms_per_step']:>10.1f}"
                   f"{r['samples_per_s']:>11.1f}{ratio:>7}{passes:>7}{mfu:>7}{mem:>8}")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="bloom-560m")
    p.add_argument("--shapes", default="32x128,16x384", help="comma-separated batch x tokens")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    p.add_argument("--variants", default=None, help="comma-separated names from the config (default: all)")
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    p.add_argument("--compile", dest="compile_flag", action="store_true", default=None,
                   help="compile the fast path on a CPU too (default: only on CUDA)")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args(argv)
    variants = {n: {k: v for k, v in b.items() if k != "budget"}
                for n, b in yaml.safe_load(args.config.read_text())["variants"].items()}
    if args.variants:
        variants = {n: variants[n] for n in args.variants.split(",")}
    shapes = [tuple(map(int, s.split("x"))) for s in args.shapes.split(",")]
    device, compiled, rows = run(args.arch, shapes, variants, args.steps, args.warmup, args.compile_flag)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; arch {args.arch}; torch {torch.__version__}; fast path = SDPA ALiBi"
          f"{' + torch.compile' if compiled else ' (not compiled)'}; {args.steps} timed steps after {args.warmup}")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"device": name, "arch": args.arch, "compiled": compiled, "rows": rows},
                                        indent=1))


if __name__ == "__main__":
    main()
