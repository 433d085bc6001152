"""Perturbation budgets: one convention, measured against the embeddings they are added to.

Every adversarial method perturbs the input embeddings e [batch, tokens, hidden] of real tokens. Its
size parameters live in one of two norms:

  example-L2   the L2 norm over all real tokens and hidden units of one example: ||delta_b||_2
               (FGM epsilon; PGD epsilon/alpha with norm l2; FreeLB adv_lr, init_mag, max_norm)
  element      the size of each entry delta_{b,t,j}: an L-inf bound or a noise scale
               (PGD epsilon/alpha with norm linf; SMART epsilon, noise_std, step_size; R3F epsilon)

By default a size is absolute (the papers' convention, in the units of the model's raw word
embeddings). With `scale: embedding` in a variant block it is relative: multiplied by the size the
embeddings themselves have in the same norm, so one config means the same relative perturbation on
any body:

  example-L2   size * s * sqrt(L_b)     (~ ||e_b||_2: L_b real tokens of example b)
  element      size * s / sqrt(d)       (~ the RMS of one embedding entry; d = hidden size)

where s is the model's measured embedding scale: the RMS over real tokens of the per-token L2 norm
||e_{b,t}||_2, measured once at the start of a run (`measure_embedding_scale`) and logged.

What a budget *meant* is logged per step (`perturbation_ratios`): the applied perturbation's per-token
ratio ||delta_{b,t}|| / ||e_{b,t}|| and per-example ratio ||delta_b|| / ||e_b||, max and median.
"""
from __future__ import annotations

import math

import torch


def is_calibrated(block: dict) -> bool:
    """A variant block whose radius is chosen on English dev (budget: calibrated; xlt/workflow/calibration.py)."""
    return block.get("budget", "fixed") == "calibrated"

# The size parameter that is the budget's radius, per method, and the parameters tied to it: a
# calibrated radius r rescales them all by r / (the block's radius), keeping the method's shape
# (PGD alpha/epsilon, FreeLB adv_lr : init_mag : max_norm, SMART step_size : noise_std : epsilon).
RADIUS = {"fgm": "epsilon", "pgd": "epsilon", "freelb": "max_norm", "smart": "epsilon", "r3f": "epsilon"}
TIED = {"fgm": [], "pgd": ["alpha"], "freelb": ["adv_lr", "init_mag"], "smart": ["noise_std", "step_size"],
        "r3f": []}
# In which norm each method's radius is measured (pgd depends on its `norm`).
NORM = {"fgm": "example-L2", "pgd": "example-L2", "freelb": "example-L2", "smart": "element (L-inf)",
        "r3f": "element (noise bound)"}


def radius_norm(block: dict) -> str:
    method = block["method"]
    if method == "pgd" and block.get("norm") == "linf":
        return "element (L-inf)"
    return NORM[method]


def with_radius(block: dict, radius: float) -> dict:
    """The variant block with its budget radius set to `radius` and its tied sizes rescaled alike."""
    method = block["method"]
    key = RADIUS[method]
    old = block.get(key)
    if not old or old <= 0:
        raise ValueError(f"a {method} block needs a positive {key} to be rescaled to a calibrated budget; "
                         f"got {old!r}")
    factor = radius / old
    out = {k: v for k, v in block.items() if k != "budget"}
    out[key] = radius
    for tied in TIED[method]:
        if tied in out:
            out[tied] = out[tied] * factor
    return out


@torch.no_grad()
def token_norms(embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token L2 norms of the real tokens: a flat tensor."""
    return embeds.float().norm(dim=-1)[mask.bool()]


@torch.no_grad()
def measure_embedding_scale(model, batches) -> dict:
    """The model's token-embedding scale from a few batches ({input_ids, attention_mask} on the model's
    device): RMS and median of the per-token L2 norm over real tokens, and the entry RMS (RMS / sqrt(d))."""
    embeds = [model.embed(b["input_ids"]) for b in batches]
    norms = torch.cat([token_norms(e, b["attention_mask"]).cpu() for e, b in zip(embeds, batches)])
    if norms.numel() == 0:
        raise ValueError("no real tokens to measure the embedding scale on")
    hidden = embeds[0].shape[-1]
    rms = float(norms.pow(2).mean().sqrt())
    return {"token_l2_rms": rms, "token_l2_median": float(norms.median()), "element_rms": rms / math.sqrt(hidden),
            "hidden_size": int(hidden), "tokens": int(norms.numel())}


@torch.no_grad()
def perturbation_ratios(delta: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[token max, token median, example max, example median] of ||delta|| / ||e|| (real tokens only)."""
    m = mask.bool()
    d, e = delta.float(), embeds.float()
    token = (d.norm(dim=-1) / e.norm(dim=-1).clamp_min(1e-12))[m]
    w = m.unsqueeze(-1).float()
    example = (d * w).flatten(1).norm(dim=1) / (e * w).flatten(1).norm(dim=1).clamp_min(1e-12)
    example = example[m.any(dim=1)]
    return torch.stack([token.max(), token.median(), example.max(), example.median()])


RATIO_KEYS = ("token_max", "token_median", "example_max", "example_median")


def ratio_record(stats: torch.Tensor | None) -> dict | None:
    return None if stats is None else dict(zip(RATIO_KEYS, (round(v, 6) for v in stats.tolist())))
