"""SDPA ALiBi attention (xlt/model/attention.py) is the eager Bloom attention, to fp32 rounding."""
import copy

import pandas as pd
import pytest
import torch

from xlt.model.attention import use_attention
from xlt.model.formats import get_format, pad_batch
from xlt.model.modeling import build_model, head_spec
from xlt.steps import data

FORMATS = {"classification": ("paws_x", {"max_length": 48}),
           "span_qa": ("squad", {"max_length": 64, "doc_stride": 16, "max_query_length": 16}),
           "multiple_choice": ("hellaswag", {"max_length": 32}),
           "tagging": ("ccg", {"max_length": 48})}


@pytest.fixture(scope="module")
def setups(fixtures_dir, tiny_model_dir, tokenizer, tmp_path_factory):
    out, tmp = {}, tmp_path_factory.mktemp("attn")
    for fmt, (task, fcfg) in FORMATS.items():
        path = tmp / f"{task}.parquet"
        data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), fcfg, str(path))
        feats = pd.read_parquet(path).head(8)
        n = len(feats.attrs["labels"]) if fmt == "tagging" else (2 if fmt == "classification" else 0)
        eager = build_model(tiny_model_dir, {"t": head_spec(fmt, n)}, seed=0).eval()
        sdpa = copy.deepcopy(eager)
        assert use_attention(sdpa.body, "sdpa") == 2  # both layers of the demo's Bloom
        out[fmt] = (feats, eager, sdpa)
    return out


def _run(model, batch, embeds, loss_fn):
    embeds = embeds.clone().requires_grad_()
    logits = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"], task="t")
    loss_fn(logits).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return logits.detach(), embeds.grad, grads


def _max_diff(a, b, mask=None):
    if mask is not None:  # rows of pad positions carry the head's -inf-like fill: compare real positions
        a, b = a[mask], b[mask]
    return float((a - b).abs().max())


@pytest.mark.parametrize("perturbed", [False, True], ids=["clean", "perturbed"])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_sdpa_matches_eager_logits_and_gradients(fmt, side, perturbed, setups, tokenizer):
    feats, eager, sdpa = setups[fmt]
    module = get_format(fmt)
    batch = module.collate(feats, tokenizer.pad_token_id)
    if side == "left":  # the same sequences, padded on the left
        seqs = [s[m.bool()].tolist() for s, m in zip(batch["input_ids"], batch["attention_mask"])]
        batch["input_ids"], batch["attention_mask"] = pad_batch(seqs, tokenizer.pad_token_id, "left")
    embeds = eager.embed(batch["input_ids"]).detach()
    if perturbed:
        embeds = embeds + 0.05 * torch.randn(embeds.shape, generator=torch.Generator().manual_seed(0))
    token_rows = fmt in ("span_qa", "tagging")
    weights = torch.randn(64, generator=torch.Generator().manual_seed(1))
    if side == "right":
        def loss_fn(logits):
            return module.loss(logits, batch)
    else:  # positions move with left padding: a weighted mean of the real positions' logits instead
        def loss_fn(logits):
            real = logits[batch["attention_mask"].bool()] if token_rows else logits
            return (real * weights[:real.shape[-1]]).mean()
    le, ge, pe = _run(eager, batch, embeds, loss_fn)
    ls, gs, ps = _run(sdpa, batch, embeds, loss_fn)
    mask = batch["attention_mask"].bool() if token_rows else None
    assert _max_diff(le, ls, mask) <= 1e-5
    assert _max_diff(ge, gs) <= 1e-5  # gradient w.r.t. inputs_embeds
    assert pe.keys() == ps.keys() and max(_max_diff(pe[n], ps[n]) for n in pe) <= 1e-5


def test_switching_back_and_unknown_kinds(setups):
    _, _, sdpa = setups["classification"]
    model = copy.deepcopy(sdpa)
    assert use_attention(model.body, "eager") == 2 and "forward" not in vars(model.body.h[0].self_attention)
    with pytest.raises(ValueError, match="training.attention must be one of"):
        use_attention(model.body, "flash")
