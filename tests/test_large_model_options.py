"""LoRA and gradient checkpointing: the options that fit large Blooms on one GPU."""
import json

import pandas as pd
import pytest
import torch

from xlt.adversarial.methods import FGM, StepContext
from xlt.model.formats import get_format
from xlt.io import read_json
from xlt.model.modeling import build_model, enable_activation_checkpointing, head_spec, load_model
from xlt.steps import data, train

CFG = {"learning_rate": 1e-2, "batch_size": 8, "grad_accum": 1, "max_steps": 20, "warmup_ratio": 0.0,
       "weight_decay": 0.0, "max_grad_norm": 1.0, "eval_every": 10, "eval_batch_size": 16}


@pytest.fixture(scope="module")
def feats(fixtures_dir, tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lora")
    data.featurize("paws_x", str(fixtures_dir / "paws_x" / "train.parquet"), str(tiny_model_dir),
                   {"max_length": 48}, str(tmp / "f.parquet"))
    return str(tmp / "f.parquet")


def _spec(feats, fixtures_dir, name="paws_x"):
    return {"name": name, "train": feats, "dev": feats, "dev_data": str(fixtures_dir / "paws_x" / "train.parquet")}


def test_lora_trains_adapters_only_and_checkpoints_chain(feats, fixtures_dir, tiny_model_dir, tmp_path):
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["query_key_value"]}
    inter = tmp_path / "inter"
    train.fine_tune_tasks([_spec(feats, fixtures_dir)], str(tiny_model_dir), {**CFG, "lora": lora}, 0, str(inter / "ckpt"),
                          str(inter / "m.json"), str(inter / "log.jsonl"), variant="fgm", variant_block={"method": "fgm"})
    ckpt = inter / "ckpt"
    assert (ckpt / "adapter_config.json").exists() and not (ckpt / "model.safetensors").exists()
    losses = [r["loss"] for r in map(json.loads, open(inter / "log.jsonl")) if "loss" in r]
    assert losses[-1] < losses[0]
    # the adapter checkpoint rebuilds on its base and scores like the trained model did
    model = load_model(ckpt).eval()
    base = build_model(tiny_model_dir, {"paws_x": head_spec("classification", 2)}).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert not torch.allclose(model(ids, torch.ones_like(ids)), base(ids, torch.ones_like(ids)))
    # a second LoRA stage on top of the first: its checkpoint names the first as its base
    target = tmp_path / "target"
    train.fine_tune_tasks([_spec(feats, fixtures_dir)], str(ckpt), {**CFG, "max_steps": 2, "lora": lora}, 0,
                          str(target / "ckpt"), str(target / "m.json"), str(target / "log.jsonl"))
    assert read_json(target / "ckpt" / "adapter_config.json")["base_model_name_or_path"] == str(ckpt)
    assert load_model(target / "ckpt") is not None


def test_perturbations_reach_frozen_embeddings_under_lora(fixtures_dir, tiny_model_dir, feats):
    from xlt.model.modeling import add_lora

    model = build_model(tiny_model_dir, {"t": head_spec("classification", 2)}).eval()
    add_lora(model, tiny_model_dir, r=2, alpha=4, dropout=0.0, target_modules=["query_key_value"])
    batch = get_format("classification").collate(pd.read_parquet(feats).head(4), 3)
    trace = []
    ctx = StepContext(model=model, batch=batch, task="t", fmt=get_format("classification"), scale=1.0, trace=trace,
                      apply=lambda m, e: m(inputs_embeds=e, attention_mask=batch["attention_mask"], task="t"))
    FGM(epsilon=1.0).step(ctx)
    assert trace and trace[0].abs().sum() > 0
    assert model.body.get_input_embeddings().weight.grad is None  # frozen, untouched


def test_gradient_checkpointing_gives_the_same_gradients(tiny_model_dir, feats):
    batch = get_format("classification").collate(pd.read_parquet(feats).head(4), 3)
    grads = []
    for checkpointing in (False, True):
        model = build_model(tiny_model_dir, {"t": head_spec("classification", 2)}, seed=0)
        if checkpointing:
            enable_activation_checkpointing(model)
        model.train()
        torch.manual_seed(0)
        get_format("classification").loss(model(batch["input_ids"], batch["attention_mask"]), batch).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5, msg=name)


def test_bfloat16_checkpoints_take_half_the_disk_and_load_as_the_rounded_weights(feats, fixtures_dir,
                                                                               tiny_model_dir, tmp_path):
    """training.save_dtype: bfloat16 (the plan's disk line): the body is stored in bf16, heads in fp32;
    the next stage loads fp32 weights equal to the trained ones rounded to bf16."""
    from safetensors import safe_open

    sizes, bodies = {}, {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / dtype
        train.fine_tune_tasks([_spec(feats, fixtures_dir)], str(tiny_model_dir), {**CFG, "max_steps": 4, "save_dtype": dtype},
                              0, str(out / "ckpt"), str(out / "m.json"), str(out / "log.jsonl"))
        body = out / "ckpt" / "model.safetensors"
        with safe_open(body, "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {getattr(torch, dtype)}
        with safe_open(out / "ckpt" / "heads.safetensors", "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}
        sizes[dtype], bodies[dtype] = body.stat().st_size, load_model(out / "ckpt")
    assert 0.45 < sizes["bfloat16"] / sizes["float32"] < 0.55
    full, half = (dict(bodies[d].body.named_parameters()) for d in ("float32", "bfloat16"))
    assert all(p.dtype == torch.float32 for p in half.values())
    for name, p in full.items():  # the same seeded training: the bf16 file holds these weights, rounded
        assert torch.equal(half[name], p.detach().to(torch.bfloat16).float()), name
