"""torch.compile for training bodies, compiled once per sequence-length bucket.

`training.compile: true` compiles the body (the heads are tiny) with static shapes except the batch
dimension, which is marked dynamic (a multi-task batch, an epoch's last partial batch and multiple-choice
rows all have other sizes); batches are padded up to multiples of BUCKET tokens, so a run sees at most
max_length / BUCKET distinct shapes and compiles each once (tested on the compile counters). Only the
training-mode forward is compiled: every adversarial pass reuses that graph; dev evaluation and SMART's
teacher run eagerly (other graphs for a few forward passes would not pay for their compilation).

The compiled function is kept outside the module (a weak map), so deepcopy (SMART's teacher), state dicts
and checkpoints never see it. XLT_COMPILE_BACKEND picks the backend (default inductor; tests use
aot_eager or a counting backend)."""
from __future__ import annotations

import os
import weakref

import torch

BUCKET = 64
_compiled: "weakref.WeakKeyDictionary[torch.nn.Module, object]" = weakref.WeakKeyDictionary()


def compile_body(model: torch.nn.Module, backend=None) -> None:
    backend = backend or os.environ.get("XLT_COMPILE_BACKEND", "inductor")
    _compiled[model] = torch.compile(model.body, backend=backend, dynamic=False)


def compiled(model: torch.nn.Module):
    """The compiled body to use for this call, or None (not compiled, or not training)."""
    fn = _compiled.get(model)
    return fn if fn is not None and model.training else None


def run_compiled(fn, inputs_embeds=None, input_ids=None, attention_mask=None):
    for t in (inputs_embeds, input_ids, attention_mask):
        if t is not None:
            torch._dynamo.mark_dynamic(t, 0)  # the batch size varies, the (bucketed) length does not
    return fn(input_ids=None if inputs_embeds is not None else input_ids, inputs_embeds=inputs_embeds,
              attention_mask=attention_mask, use_cache=False)
