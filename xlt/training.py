"""The training loop: AdamW, linear warmup/decay, gradient accumulation, bf16 autocast on GPU (fp32 on
CPU), periodic evaluation on the English dev split with best-checkpoint selection, a JSONL log."""
from __future__ import annotations

import json
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from xlt.formats import get_format
from xlt.modeling import TaskModel, save_checkpoint


@dataclass
class TrainConfig:
    learning_rate: float = 1e-5
    batch_size: int = 16
    grad_accum: int = 1
    epochs: float = 3.0
    max_steps: int | None = None        # optimizer steps; overrides epochs when set
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_every: int | None = None       # optimizer steps between dev evaluations; None = once per epoch
    eval_batch_size: int = 64
    max_train_examples: int | None = None  # subsample the training features (smoke runs)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**d)


@dataclass
class TaskSpec:
    """What the loop needs to know about a task: its format and scoring options."""
    format: str
    selection_metric: str
    options: dict  # passed to the format's predictions()/score(): allow_no_answer, n_best, ...


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device_and_autocast():
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.device("cpu"), nullcontext()


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def infer(model: TaskModel, features: pd.DataFrame, fmt: str, pad_id: int, batch_size: int) -> list[torch.Tensor]:
    """Logits for every feature, in feature order."""
    device, autocast = device_and_autocast()
    module = get_format(fmt)
    model.eval()
    out = []
    for i in range(0, len(features), batch_size):
        batch = to_device(module.collate(features.iloc[i:i + batch_size], pad_id), device)
        with autocast:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        out.append(logits.float().cpu())
    return out


def evaluate(model: TaskModel, features: pd.DataFrame, examples: pd.DataFrame, spec: TaskSpec, pad_id: int,
             batch_size: int) -> tuple[dict, dict]:
    """(predictions {id: prediction}, metrics) for `examples`."""
    module = get_format(spec.format)
    logits = infer(model, features, spec.format, pad_id, batch_size)
    preds = module.predictions(features, logits, examples, **spec.options)
    return preds, module.score(preds, examples, **spec.options)


def standard_loss(model: TaskModel, batch: dict, fmt: str) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return get_format(fmt).loss(logits, batch)


def train(model: TaskModel, tokenizer, spec: TaskSpec, train_features: pd.DataFrame, dev_features: pd.DataFrame,
          dev_examples: pd.DataFrame, cfg: TrainConfig, checkpoint_dir: str | Path, log_path: str | Path,
          seed: int) -> dict:
    """Train, keep the checkpoint with the best dev `selection_metric`, return that checkpoint's dev metrics."""
    set_seed(seed)
    device, autocast = device_and_autocast()
    model.to(device)
    module = get_format(spec.format)
    pad_id = tokenizer.pad_token_id
    if cfg.max_train_examples:
        train_features = train_features.sample(n=min(cfg.max_train_examples, len(train_features)), random_state=seed)
    steps_per_epoch = math.ceil(len(train_features) / (cfg.batch_size * cfg.grad_accum))
    total_steps = cfg.max_steps or max(1, round(cfg.epochs * steps_per_epoch))
    eval_every = cfg.eval_every or steps_per_epoch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]  # biases and norms
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.learning_rate, fused=device.type == "cuda")
    scheduler = get_linear_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * total_steps), total_steps)
    generator = torch.Generator().manual_seed(seed)

    def micro_batches():
        while True:  # epochs of shuffled micro-batches
            order = torch.randperm(len(train_features), generator=generator).numpy()
            for i in range(0, len(order), cfg.batch_size):
                yield module.collate(train_features.iloc[order[i:i + cfg.batch_size]], pad_id)

    best_metric, best_metrics = -math.inf, {}
    stream = micro_batches()
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log, tqdm(total=total_steps, desc="train", mininterval=5) as bar:
        def write_log(record):
            log.write(json.dumps(record) + "\n")
            log.flush()

        t0 = time.time()
        for step in range(1, total_steps + 1):
            model.train()
            step_loss = 0.0
            for _ in range(cfg.grad_accum):
                batch = to_device(next(stream), device)
                with autocast:
                    loss = standard_loss(model, batch, spec.format) / cfg.grad_accum
                loss.backward()
                step_loss += loss.item()
            if not math.isfinite(step_loss):
                raise FloatingPointError(f"non-finite training loss {step_loss} at step {step}")
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            bar.update(1)
            write_log({"step": step, "loss": step_loss, "grad_norm": float(grad_norm),
                       "lr": scheduler.get_last_lr()[0], "elapsed_s": round(time.time() - t0, 3)})
            if step % eval_every == 0 or step == total_steps:
                _, metrics = evaluate(model, dev_features, dev_examples, spec, pad_id, cfg.eval_batch_size)
                improved = metrics[spec.selection_metric] > best_metric
                write_log({"step": step, "dev": metrics, "best": improved})
                if improved:
                    best_metric, best_metrics = metrics[spec.selection_metric], {**metrics, "step": step}
                    save_checkpoint(model, tokenizer, checkpoint_dir)
    return best_metrics
