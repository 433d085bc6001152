"""What every training-step variant's perturbation size means on the model it perturbs, and what it does.

    python -m xlt.bench.adversarial --scale              # perturbation sizes vs the embeddings (table)
    python -m xlt.bench.adversarial --effects            # what each radius does in train mode; deviations (tables)

(Step cost per variant is in `python -m xlt.bench.throughput`.) Per variant of the config (each grid radius of a calibrated one), the applied perturbation's
ratio to the embeddings it is added to (xlt/adversarial/budgets.py), per token and per example, max and median, on
a Bloom-shaped body (hidden 1024, entries N(0, 0.02^2) as bloom-560m is initialised; 2 layers to run on a
CPU) and on the demo's tiny Bloom. --effects: in train mode (head dropout 0.1 and none in the body, as
bloom-560m; a 2,000-token vocabulary keeps the gradients small), each variant's effect at radius 0 and at every grid radius with `dropout: shared` and
`independent`: the step's loss change against radius 0, SMART's / R3F's regulariser, and the change of the
step's parameter gradient against radius 0 (same seed: same first-pass masks, same noise draws) next to the
change another dropout draw makes at radius 0 (seed 1 vs 0); and the measured size of each documented
deviation from the authors' code. The README's budget and effect tables are this command's output."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml

from xlt.adversarial.methods import StepContext, make_strategy
from xlt.bench.throughput import build, make_batch
from xlt.model.formats import get_format

ROOT = Path(__file__).resolve().parents[2]


SCALE_BODIES = {  # --scale: (label, BloomConfig kwargs)
    "bloom-shaped": dict(vocab_size=32000, hidden_size=1024, n_layer=2, n_head=16),
    "demo": None,  # config/demo.yaml's tiny Bloom spec
}
SOURCES = {"fgm": "Miyato et al. 2017", "pgd": "Madry et al. 2018", "freelb": "Zhu et al. 2020 + code",
           "smart": "Jiang et al. 2020, Alg. 1", "r3f": "Aghajanyan et al. 2021"}


def budget_points(config: dict) -> list[tuple[str, dict, str]]:
    """(variant, resolved block, budget label) for every adversarial variant: its block, or each grid
    radius of a calibrated one."""
    from xlt.workflow import calibration
    from xlt.adversarial.budgets import RADIUS, with_radius

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
    from xlt.adversarial.budgets import RATIO_KEYS, measure_embedding_scale, radius_norm

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


EFFECT_BODY = {**SCALE_BODIES["bloom-shaped"], "vocab_size": 2000}  # no body dropout, head dropout 0.1: bloom-560m's


def _step(model, batch, block, seed, s):
    """One step of `block` in train mode from seed `seed`: (loss, regulariser, flat parameter gradient, ctx)."""
    mask = batch["attention_mask"]
    torch.manual_seed(seed)
    model.zero_grad(set_to_none=True)
    ctx = StepContext(model=model, batch=batch, task="t", fmt=get_format("classification"), scale=1.0,
                      embedding_scale=s, trace=[], apply=lambda m, e: m(inputs_embeds=e, attention_mask=mask, task="t"))
    loss = make_strategy(block).step(ctx)
    grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return loss, (None if ctx.regulariser is None else float(ctx.regulariser)), grad, ctx


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def effect_rows(config: dict, arch: dict | None = None, batch: int = 8, seq: int = 32) -> list[dict]:
    """Per adversarial variant, dropout mode and radius (0 and the grid): the perturbation's effect."""
    from xlt.workflow import calibration
    from xlt.adversarial.budgets import RADIUS, measure_embedding_scale, with_radius

    arch = arch or EFFECT_BODY
    model = build(arch, torch.device("cpu"))  # train mode
    b = make_batch(arch["vocab_size"], batch, seq, torch.device("cpu"))
    s = measure_embedding_scale(model, [b])["token_l2_rms"]
    rows = []
    for name, block in config["variants"].items():
        if block["method"] == "standard":
            continue
        key = RADIUS[block["method"]]
        radii = sorted({0.0, *(calibration.grid(config, name) if calibration.is_calibrated(block) else [block[key]])})
        for dropout in ("shared", "independent"):
            loss0, _, g0, _ = _step(model, b, {**with_radius(block, 0.0), "dropout": dropout}, 0, s)
            floor = _rel(_step(model, b, {**with_radius(block, 0.0), "dropout": dropout}, 1, s)[2], g0)
            for r in radii:
                loss, reg, g, _ = _step(model, b, {**with_radius(block, r), "dropout": dropout}, 0, s)
                rows.append({"variant": name, "dropout": dropout, "radius": f"{key} {r:g}", "loss": loss,
                             "loss_change": loss - loss0, "regulariser": reg, "grad_change": _rel(g, g0),
                             "dropout_floor": floor})
    return rows


def deviation_rows(config: dict, arch: dict | None = None, batch: int = 8, seq: int = 32) -> list[dict]:
    """The measured size of each documented deviation from the authors' code, train mode, each study block at
    the middle positive radius of its grid."""
    from xlt.workflow import calibration
    from xlt.adversarial.budgets import measure_embedding_scale, with_radius

    arch = arch or EFFECT_BODY
    model = build(arch, torch.device("cpu"))
    b = make_batch(arch["vocab_size"], batch, seq, torch.device("cpu"))
    s = measure_embedding_scale(model, [b])["token_l2_rms"]
    emb = model.body.get_input_embeddings().weight

    def block(name, **over):
        base = config["variants"][name]
        if calibration.is_calibrated(base):
            radii = [r for r in calibration.grid(config, name) if r > 0]
            base = with_radius(base, radii[len(radii) // 2])
        return {**base, **over}

    def grad(blk, embeddings_only=False):
        g = _step(model, b, blk, 0, s)[2]
        return emb.grad.flatten().clone() if embeddings_only else g

    rows = []
    for dropout in ("shared", "independent"):
        ce = grad({"method": "standard"})  # the clean pass draws the same masks as SMART's first pass
        sym = grad(block("smart", ascent_objective="symmetric", dropout=dropout)) - ce
        one_sided = grad(block("smart", ascent_objective="kl", dropout=dropout)) - ce
        rows.append({"deviation": "SMART ascent on KL(adv ‖ clean) (mt-dnn) instead of the symmetric l_s (Alg. 1)",
                     "dropout": dropout, "measure": "change of the regulariser's parameter gradient",
                     "value": _rel(one_sided, sym)})
        kept = grad(block("r3f", detach_noise_embeddings=False, dropout=dropout), embeddings_only=True)
        detached = grad(block("r3f", detach_noise_embeddings=True, dropout=dropout), embeddings_only=True)
        rows.append({"deviation": "R3F noisy branch's embedding gradient kept (fairseq detaches it)",
                     "dropout": dropout, "measure": "change of the word-embedding gradient",
                     "value": _rel(kept, detached)})
    k = block("freelb").get("steps", 2)
    rows.append({"deviation": f"FreeLB (K = {k}) with new dropout masks per pass (Zhu et al. reuse the first pass's)",
                 "dropout": "independent", "measure": "change of the accumulated gradient",
                 "value": _rel(grad(block("freelb", dropout="independent")), grad(block("freelb", dropout="shared")))})
    smart = block("smart")
    z = torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    rows.append({"deviation": "SMART initial noise clipped into the L-inf ball (Alg. 1 does not clip it)",
                 "dropout": "—", "measure": f"share of noise entries clipped (noise_std / epsilon = "
                 f"{smart['noise_std'] / smart['epsilon']:g})",
                 "value": float((z.abs() * smart["noise_std"] > smart["epsilon"]).float().mean())})
    return rows


def _g(v) -> str:
    return "—" if v is None else f"{v:.3g}"


def effect_table(rows: list[dict], deviations: list[dict]) -> str:
    out = ["train mode (bloom-shaped body, head dropout 0.1, batch 8 x 32): effect of each radius against radius 0",
           "", "| variant | dropout | radius | step loss | loss change | regulariser | gradient change | "
           "another dropout draw |", "|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['variant']} | {r['dropout']} | {r['radius']} | {r['loss']:.4g} | {_g(r['loss_change'])} | "
            f"{_g(r['regulariser'])} | {_g(r['grad_change'])} | {_g(r['dropout_floor'])} |" for r in rows]
    out += ["", "deviations from the authors' code (same body and batch, the study block at its middle grid radius)", "",
            "| deviation | dropout | measure | size |", "|---|---|---|---|"]
    out += [f"| {d['deviation']} | {d['dropout']} | {d['measure']} | {d['value']:.3g} |" for d in deviations]
    return "\n".join(out + [""])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", action="store_true", help="print perturbation sizes relative to the embeddings")
    p.add_argument("--effects", action="store_true", help="print each radius's effect in train mode and the deviations")
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml", help="variant blocks are read from here")
    args = p.parse_args(argv)
    if not (args.scale or args.effects):
        p.error("say what to measure: --scale and/or --effects")
    config = yaml.safe_load(args.config.read_text())
    if args.scale:
        print(budget_table(budget_rows(config)))
    if args.effects:
        print(effect_table(effect_rows(config), deviation_rows(config)))


if __name__ == "__main__":
    main()
