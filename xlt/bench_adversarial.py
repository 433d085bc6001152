"""Step time of every training-step variant relative to standard training, same model and batch.

    python -m xlt.bench_adversarial                      # tiny Bloom (the demo's shape), CPU or GPU
    python -m xlt.bench_adversarial --arch bloom-560m    # bloom-560m architecture, random weights

Prints, per variant: mean step time, ratio to standard, the ideal ratio (forward+backward passes per
step, xlt.adversarial.expected_cost) and a flag when the measured ratio is more than 20% above it.
A step = the strategy's forward/backward passes + clip + AdamW step, as in the training loop."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from xlt.adversarial import StepContext, expected_cost, make_strategy
from xlt.formats import get_format
from xlt.modeling import TaskModel, head_spec

ROOT = Path(__file__).resolve().parents[1]
# bigscience/bloom-560m's published config.json (no download needed)
ARCHS = {
    "bloom-560m": dict(vocab_size=250880, hidden_size=1024, n_layer=24, n_head=16),
    "tiny": dict(vocab_size=500, hidden_size=64, n_layer=2, n_head=4),
}


def build(arch: str, device) -> TaskModel:
    from transformers import BloomConfig, BloomModel

    torch.manual_seed(0)
    body = BloomModel(BloomConfig(**ARCHS[arch]))
    return TaskModel(body, {"t": head_spec("classification", 2)}).to(device)


def time_variant(model, block, batch, steps, warmup, device, autocast) -> float:
    strategy = make_strategy(block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=device.type == "cuda")
    fmt = get_format("classification")

    def apply(m, embeds):
        with autocast:
            return m(inputs_embeds=embeds, attention_mask=batch["attention_mask"], task="t")

    def one_step():
        ctx = StepContext(model=model, batch=batch, task="t", fmt=fmt, apply=apply, scale=1.0)
        strategy.step(ctx)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        strategy.after_optimizer_step(model)

    for _ in range(warmup):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="tiny")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml", help="variant blocks are read from here")
    args = p.parse_args(argv)

    from xlt.training import device_and_autocast

    device, autocast = device_and_autocast()
    model = build(args.arch, device).train()
    vocab = ARCHS[args.arch]["vocab_size"]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (args.batch, args.seq), generator=g)
    mask = torch.ones_like(ids)
    mask[: args.batch // 4, args.seq * 3 // 4:] = 0  # a quarter of the rows are padded: pads must stay clean
    batch = {k: v.to(device) for k, v in {"input_ids": ids, "attention_mask": mask,
                                           "labels": torch.randint(0, 2, (args.batch,), generator=g)}.items()}
    variants = yaml.safe_load(args.config.read_text())["variants"]
    print(f"device={device} ({torch.cuda.get_device_name() if device.type == 'cuda' else torch.get_num_threads()} "
          f"{'GPU' if device.type == 'cuda' else 'CPU threads'}), arch={args.arch}, batch={args.batch}, "
          f"seq={args.seq}, steps={args.steps} (+{args.warmup} warm-up), torch {torch.__version__}")
    base = None
    print(f"{'variant':<12}{'ms/step':>10}{'ratio':>8}{'ideal':>8}  note")
    for name, block in variants.items():
        t = time_variant(model, block, batch, args.steps, args.warmup, device, autocast)
        base = base or t
        ideal = expected_cost(block)
        ratio = t / base
        note = "more than 20% above ideal" if ratio > 1.2 * ideal else ""
        print(f"{name:<12}{t * 1000:>10.1f}{ratio:>8.2f}{ideal:>8.2f}  {note}")


if __name__ == "__main__":
    main()
