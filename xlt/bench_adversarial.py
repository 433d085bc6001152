"""What every training-step variant's perturbation size means on the model it perturbs.

    python -m xlt.bench_adversarial --scale              # perturbation sizes vs the embeddings (table)

(Step cost per variant is in `python -m xlt.bench`.) Per variant of the config (each grid radius of a calibrated one), the applied perturbation's
ratio to the embeddings it is added to (xlt/budgets.py), per token and per example, max and median, on
a Bloom-shaped body (hidden 1024, entries N(0, 0.02^2) as bloom-560m is initialised; 2 layers to run on a
CPU) and on the demo's tiny Bloom. The README's budget table is this command's output."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml

from xlt.adversarial import StepContext, make_strategy
from xlt.bench import build, make_batch
from xlt.formats import get_format

ROOT = Path(__file__).resolve().parents[1]


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
    from xlt.budgets import RATIO_KEYS, measure_embedding_scale, radius_norm

    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    (demo_spec,) = (m["demo"] for m in demo["models"].values())
    rows = []
    for body, arch in (bodies or SCALE_BODIES).items():
        arch = arch or {k: v for k, v in demo_spec.items() if k != "seed"}
        model = build(arch, torch.device("cpu"))  # transformers' own (eager) attention
        b = make_batch(arch["vocab_size"], batch, seq, torch.device("cpu"))
        mask = b["attention_mask"]
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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", action="store_true", required=True, help="print perturbation sizes relative to the embeddings")
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml", help="variant blocks are read from here")
    args = p.parse_args(argv)
    print(budget_table(budget_rows(yaml.safe_load(args.config.read_text()))))


if __name__ == "__main__":
    main()
