"""A task model = any Hugging Face body (AutoModel) + one small head per task.

Keeping heads outside the body lets the body carry over between stages (intermediate -> target, with a
fresh head as in Phang et al. 2020), lets one body serve several tasks (multi-task training), and lets
perturbations act on `inputs_embeds`. Checkpoint = body via save_pretrained (safetensors) + tokenizer +
heads.safetensors + heads.json ({task: head spec})."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer

from xlt.model.compiling import compiled, run_compiled
from xlt.io import atomic_path, read_json, write_json


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token per row; correct for left and right padding alike."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (positions + 1)).argmax(dim=1)


class LastTokenHead(nn.Module):
    """Scores a sequence from its last real token: under causal attention the only one that saw it all.
    Classification: num_labels outputs. Multiple choice: 1 output per (context, choice) sequence."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_outputs)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(attention_mask)]
        return self.out(self.dropout(pooled))


class TokenHead(nn.Module):
    """Per-token outputs (span start/end logits, or tag logits); pad positions get -inf-like scores."""

    def __init__(self, hidden_size: int, num_outputs: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_outputs)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.out(self.dropout(hidden)).float()
        return logits.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(logits.dtype).min)


def make_head(spec: dict, hidden_size: int) -> nn.Module:
    fmt = spec["format"]
    if fmt == "classification":
        return LastTokenHead(hidden_size, spec["num_labels"])
    if fmt == "multiple_choice":
        return LastTokenHead(hidden_size, 1)
    if fmt == "span_qa":
        return TokenHead(hidden_size, 2)
    if fmt == "tagging":
        return TokenHead(hidden_size, spec["num_labels"], dropout=0.1)
    raise ValueError(f"no head for format {fmt!r}")


def head_spec(fmt: str, num_labels: int = 0) -> dict:
    return {"format": fmt, "num_labels": num_labels}


def compatible(a: dict, b: dict) -> bool:
    """Can a head trained for spec `a` serve spec `b` (e.g. SQuAD -> TyDiQA)?"""
    return a["format"] == b["format"] and a.get("num_labels", 0) == b.get("num_labels", 0)


class TaskModel(nn.Module):
    def __init__(self, body: nn.Module, specs: dict[str, dict]):
        super().__init__()
        self.body, self.specs = body, dict(specs)
        hidden = self.hidden_size = body.get_input_embeddings().embedding_dim
        self.heads = nn.ModuleDict({task: make_head(spec, hidden) for task, spec in specs.items()})

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.body.get_input_embeddings()(input_ids)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, task: str | None = None) -> torch.Tensor:
        if task is None:
            (task,) = self.heads  # a single-task model needs no name
        fn = compiled(self)
        if fn is not None:
            out = run_compiled(fn, inputs_embeds, input_ids, attention_mask)
        else:
            out = self.body(input_ids=None if inputs_embeds is not None else input_ids,
                            inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False)
        hidden = out.last_hidden_state
        # heads in fp32 even under bf16 autocast: they are tiny, and the KL regularisers (SMART, R3F)
        # compare logits that small perturbations move by far less than bf16's 2^-8 relative rounding
        with torch.autocast(hidden.device.type, enabled=False):
            return self.heads[task](hidden.float(), attention_mask)


def load_body(path: str | Path) -> nn.Module:
    """A body from a model snapshot or checkpoint. A LoRA checkpoint (adapter only) is rebuilt on its
    base — itself possibly a LoRA checkpoint — and merged, so every stage starts from plain weights."""
    path = Path(path)
    adapter = path / "adapter_config.json"
    if adapter.exists():
        from peft import PeftModel

        base = load_body(read_json(adapter)["base_model_name_or_path"])
        return PeftModel.from_pretrained(base, path).merge_and_unload()
    return AutoModel.from_pretrained(path, dtype=torch.float32)


def build_model(body_path: str | Path, specs: dict[str, dict], seed: int = 0) -> TaskModel:
    """Body from a checkpoint or model snapshot, and freshly initialised heads (seeded)."""
    body = load_body(body_path)
    torch.manual_seed(seed)
    return TaskModel(body, specs)


def enable_activation_checkpointing(model: TaskModel) -> None:
    """Recompute each block's activations in backward (non-reentrant: gradients still reach inputs_embeds)."""
    body = model.body
    if hasattr(body, "activation_checkpointing_enable"):  # transformers >= 5.x name
        body.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        body.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def add_lora(model: TaskModel, base_path: str | Path, r: int = 16, alpha: int = 32, dropout: float = 0.05,
             target_modules: list[str] | None = None) -> None:
    """Freeze the body and train low-rank adapters (peft LoRA) in it; heads stay fully trainable.
    `base_path` is recorded so the adapter-only checkpoint can be rebuilt (load_body)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=target_modules or ["query_key_value", "dense_h_to_4h", "dense_4h_to_h"])
    model.body = get_peft_model(model.body, config)
    model.body.peft_config["default"].base_model_name_or_path = str(base_path)


def saved_heads(path: str | Path) -> dict[str, dict]:
    """{task: spec} of the heads in a checkpoint ({} for a plain model snapshot)."""
    p = Path(path) / "heads.json"
    return read_json(p) if p.exists() else {}


def load_heads(model: TaskModel, path: str | Path, mapping: dict[str, str] | None = None) -> None:
    """Load saved heads into `model`; `mapping` {model task: saved task} reuses a compatible head."""
    state = load_file(Path(path) / "heads.safetensors")
    mapping = mapping or {t: t for t in model.heads}
    for task, saved in mapping.items():
        prefix = f"{saved}."
        model.heads[task].load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})


def load_model(path: str | Path, attention: str | None = None) -> TaskModel:
    """A checkpoint written by save_checkpoint, heads included; `attention` switches a Bloom body's
    attention implementation (xlt/model/attention.py)."""
    model = build_model(path, saved_heads(path))
    load_heads(model, path)
    if attention is not None:
        from xlt.model.attention import use_attention

        use_attention(model.body, attention)
    return model


def load_tokenizer(path: str | Path):
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:  # many decoder-only tokenizers have none; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def save_checkpoint(model: TaskModel, tokenizer, out_dir: str | Path, dtype: str = "float32") -> None:
    """Body via save_pretrained (safetensors; with LoRA only the adapter), tokenizer, heads. dtype
    bfloat16 stores a plain body's weights rounded to bf16 (half the disk; load_body reads them back as
    fp32, so the next stage starts from the rounded weights); heads and adapters stay fp32 (small)."""
    with atomic_path(out_dir) as tmp:
        if dtype == "bfloat16" and not hasattr(model.body, "peft_config"):
            model.body.save_pretrained(tmp, state_dict={k: v.to(torch.bfloat16)
                                                        for k, v in model.body.state_dict().items()})
        else:
            model.body.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        save_file({f"{task}.{k}": v.detach().cpu().contiguous()
                   for task, head in model.heads.items() for k, v in head.state_dict().items()},
                  tmp / "heads.safetensors")
        write_json(model.specs, tmp / "heads.json")
