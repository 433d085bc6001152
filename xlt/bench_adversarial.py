"""Cost and size of every training-step variant, same model and batch.

    python -m xlt.bench_adversarial                      # tiny Bloom (the demo's shape), CPU or GPU
    python -m xlt.bench_adversarial --arch bloom-560m    # bloom-560m architecture, random weights
    python -m xlt.bench_adversarial --scale              # perturbation sizes vs the embeddings (table)

Cost: per variant, mean step time, ratio to standard, the ideal ratio (forward+backward passes per
step, xlt.adversarial.expected_cost) and a flag when the measured ratio is more than 20% above it.
A step = the strategy's forward/backward passes + clip + AdamW step, as in the training loop.

--scale: per variant of the config (each grid radius of a calibrated one), the applied perturbation's
ratio to the embeddings it is added to (xlt/budgets.py), per token and per example, max and median, on
a Bloom-shaped body (hidden 1024, entries N(0, 0.02^2) as bloom-560m is initialised; 2 layers to run on a
CPU) and on the demo's tiny Bloom. The README's budget table is this command's output."""
from __future__ import annotations

import argparse
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


SCALE_BODIES = {  # --scale: (label, BloomConfig kwargs)
    "bloom-shaped": dict(vocab_size=32000, hidden_size=1024, n_layer=2, n_head=16),
    "demo": None,  # config/demo.yaml's tiny Bloom spec
}
SOURCES = {"fgm": "Miyato et al. 2017", "pgd": "Madry et al. 2018", "freelb": "Zhu et al. 2020 + code",
           "smart": "Jiang et al. 2020, Alg. 1", "r3f": "Aghajanyan et al. 2021"}


def budget_points(config: dict) -> list[tuple[str, dict, str]]:
    """(variant, resolved block, budget label) for every adversarial variant: its block, or each grid
    radius of a calibrated one."""
    from xlt import calibration
    from xlt.budgets import RADIUS, with_radius

    out = []
    for name, block in config["variants"].items():
        if block["method"] == "standard":
            continue
        key = RADIUS[block["method"]]
        if calibration.is_calibrated(block):
            for r in calibration.grid(config, name):
                out.append((name, with_radius(block, r), f"{key} {r:g} (grid)"))
        else:
            out.append((name, block, f"{key} {block.get(key, 'default')}"))
    return out


def budget_rows(config: dict, bodies: dict | None = None, batch: int = 8, seq: int = 64) -> list[dict]:
    """Measured perturbation/embedding ratios of every budget point on every body (CPU, fp32, fixed seed)."""
    from transformers import BloomConfig, BloomModel

    from xlt.budgets import RATIO_KEYS, measure_embedding_scale, radius_norm

    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    (demo_spec,) = (m["demo"] for m in demo["models"].values())
    rows = []
    for body, arch in (bodies or SCALE_BODIES).items():
        arch = arch or {k: v for k, v in demo_spec.items() if k != "seed"}
        torch.manual_seed(0)
        model = TaskModel(BloomModel(BloomConfig(**arch)), {"t": head_spec("classification", 2)}).train()
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(5, arch["vocab_size"], (batch, seq), generator=g)
        mask = torch.ones_like(ids)
        mask[: batch // 4, seq * 3 // 4:] = 0
        b = {"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, 2, (batch,), generator=g)}
        s = measure_embedding_scale(model, [b])["token_l2_rms"]
        fmt = get_format("classification")
        for name, block, label in budget_points(config):
            torch.manual_seed(0)
            model.zero_grad(set_to_none=True)
            ctx = StepContext(model=model, batch=b, task="t", fmt=fmt, scale=1.0, embedding_scale=s, monitor=True,
                              apply=lambda m, e: m(inputs_embeds=e, attention_mask=mask, task="t"))
            make_strategy(block).step(ctx)
            ratios = dict(zip(RATIO_KEYS, ctx.ratios.tolist()))
            rows.append({"body": body, "embedding_l2": s, "variant": name, "method": block["method"],
                         "norm": radius_norm(block), "scale": block.get("scale", "absolute"), "budget": label,
                         "source": SOURCES[block["method"]], **ratios})
    return rows


def budget_table(rows: list[dict]) -> str:
    """Markdown: one table per body."""
    out = []
    for body in dict.fromkeys(r["body"] for r in rows):
        sub = [r for r in rows if r["body"] == body]
        out += [f"{body} (token embedding L2 norm, RMS: {sub[0]['embedding_l2']:.3f})", "",
                "| variant | norm | scale | budget | source | token max | token median | example max | example median |",
                "|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {r['variant']} | {r['norm']} | {r['scale']} | {r['budget']} | {r['source']} | "
                f"{r['token_max']:.3g} | {r['token_median']:.3g} | {r['example_max']:.3g} | {r['example_median']:.3g} |"
                for r in sub]
        out.append("")
    return "\n".join(out)


def time_variant(model, block, batch, steps, warmup, device, autocast) -> float:
    """Seconds per optimizer step of `block` (xlt.bench times it the same way, on both attention paths)."""
    from xlt.bench import time_train

    return time_train(model, block, batch, steps, warmup, device, autocast)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=sorted(ARCHS), default="tiny")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml", help="variant blocks are read from here")
    p.add_argument("--scale", action="store_true", help="print perturbation sizes relative to the embeddings")
    args = p.parse_args(argv)
    if args.scale:
        print(budget_table(budget_rows(yaml.safe_load(args.config.read_text()))))
        return

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
    # cost does not depend on the radius: a calibrated block runs at the radius written in it
    variants = {name: {k: v for k, v in block.items() if k != "budget"}
                for name, block in yaml.safe_load(args.config.read_text())["variants"].items()}
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
