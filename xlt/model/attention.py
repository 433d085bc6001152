"""Fused attention for Bloom: PyTorch scaled_dot_product_attention with the ALiBi, causal and padding
bias, in place of transformers' eager baddbmm + softmax (transformers gives Bloom no SDPA/flash path and
no attention hook: Bloom's forward calls its own attention, so this swaps the `forward` of each
BloomAttention module of one model — nothing global).

Eager Bloom computes softmax(QK^T / sqrt(d) + alibi + mask) V with `alibi` = slope_h * (position of the key
among the real tokens) and `mask` the additive causal/padding mask; the same sum goes to SDPA as
`attn_mask`, so the result is the same function (fp32 CPU: max |diff| ~1e-6, tested for every format,
left and right padding, with perturbed inputs_embeds). On GPU SDPA then picks a fused kernel (memory-
efficient attention takes an additive bias), without materialising the attention probabilities.

`training.attention`: `sdpa` (default) or `eager` (transformers' own)."""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F

KINDS = ("sdpa", "eager")


def _sdpa_forward(self, hidden_states, residual, alibi, attention_mask, layer_past=None, use_cache=False,
                  output_attentions=False, **kwargs):
    from transformers.models.bloom.modeling_bloom import dropout_add

    if layer_past is not None or output_attentions:
        raise NotImplementedError("the SDPA Bloom attention serves training and scoring: no KV cache, no attention maps")
    batch, length, _ = hidden_states.shape
    query, key, value = self._reshape(self.query_key_value(hidden_states))  # [B, H, T, D] each
    bias = alibi.view(batch, self.num_heads, 1, -1)
    if attention_mask is not None:
        bias = bias + attention_mask
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=bias.to(query.dtype), scale=self.inv_norm_factor,
        dropout_p=self.attention_dropout.p if self.training else 0.0)
    out = self.dense(out.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim))
    return dropout_add(out, residual, self.hidden_dropout, self.training), None


def use_attention(body: torch.nn.Module, kind: str = "sdpa") -> int:
    """Switch every Bloom attention module of `body` to `kind`; returns how many were switched (0 for
    bodies that are not Bloom: they keep what transformers gives them)."""
    if kind not in KINDS:
        raise ValueError(f"training.attention must be one of {KINDS}, got {kind!r}")
    from transformers.models.bloom.modeling_bloom import BloomAttention

    switched = 0
    for module in body.modules():
        if isinstance(module, BloomAttention):
            if kind == "sdpa":
                if getattr(module, "pretraining_tp", 1) > 1 and getattr(module, "slow_but_exact", False):
                    continue  # the tensor-parallel-exact dense path has no SDPA counterpart; keep eager
                module.forward = types.MethodType(_sdpa_forward, module)
            else:
                module.__dict__.pop("forward", None)  # back to the class's eager forward
            switched += 1
    return switched
