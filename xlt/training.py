"""The training loop: AdamW, linear warmup/decay, gradient accumulation, bf16 autocast on GPU (fp32 on
CPU), periodic evaluation on English dev splits with best-checkpoint selection, a JSONL log.

One loop serves single- and multi-task training: each micro-batch comes from one task, drawn with
probability ~ min(size, cap)^(1/temperature) (a single task is always drawn)."""
from __future__ import annotations

import json
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from xlt.adversarial import Standard, StepContext
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
    max_train_examples: int | None = None  # subsample each task's training features (smoke runs)
    skip_nonfinite_steps: bool = False  # skip (and count) steps with a non-finite loss or gradient instead of stopping

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**d)


@dataclass
class TaskSpec:
    """What the loop needs to know about a task: its format and scoring options."""
    format: str
    selection_metric: str
    options: dict = field(default_factory=dict)  # for the format's predictions()/score()


@dataclass
class TaskData:
    name: str
    spec: TaskSpec
    train: pd.DataFrame
    dev: pd.DataFrame
    dev_examples: pd.DataFrame
    extra_dev: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = field(default_factory=dict)  # scored at the end


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_threads(n: int) -> None:
    """CPU threads for this job: the scheduler's `threads`, so concurrent jobs do not oversubscribe cores."""
    torch.set_num_threads(max(1, int(n)))


def device_and_autocast():
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.device("cpu"), nullcontext()


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def sampling_weights(sizes: dict[str, int], cap: int | None = None, temperature: float = 1.0) -> dict[str, float]:
    """Examples-proportional mixing with an artificial size cap and a temperature (Raffel et al. 2020)."""
    raw = {t: min(n, cap or n) ** (1.0 / temperature) for t, n in sizes.items()}
    total = sum(raw.values())
    return {t: w / total for t, w in raw.items()}


@torch.no_grad()
def infer(model: TaskModel, features: pd.DataFrame, fmt: str, pad_id: int, batch_size: int,
          task: str | None = None) -> list[torch.Tensor]:
    """Logits for every feature, in feature order."""
    device, autocast = device_and_autocast()
    module = get_format(fmt)
    model.eval()
    out = []
    for i in range(0, len(features), batch_size):
        batch = to_device(module.collate(features.iloc[i:i + batch_size], pad_id), device)
        with autocast:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], task=task)
        out.append(logits.float().cpu())
    return out


def evaluate(model: TaskModel, features: pd.DataFrame, examples: pd.DataFrame, spec: TaskSpec, pad_id: int,
             batch_size: int, task: str | None = None) -> tuple[dict, dict]:
    """(predictions {id: prediction}, metrics) for `examples`."""
    module = get_format(spec.format)
    logits = infer(model, features, spec.format, pad_id, batch_size, task)
    preds = module.predictions(features, logits, examples, **spec.options)
    return preds, module.score(preds, examples, **spec.options)


def step_context(model: TaskModel, batch: dict, task: str, fmt: str, scale: float, autocast) -> StepContext:
    def apply(m, embeds):
        with autocast:
            return m(inputs_embeds=embeds, attention_mask=batch["attention_mask"], task=task)
    return StepContext(model=model, batch=batch, task=task, fmt=get_format(fmt), apply=apply, scale=scale)


def selection_score(metrics: dict[str, dict], tasks: list[TaskData]) -> float:
    """Mean over tasks of each task's selection metric on a 0-100 scale (accuracy is stored as 0-1)."""
    scores = []
    for t in tasks:
        value = metrics[t.name][t.spec.selection_metric]
        scores.append(value * 100 if t.spec.selection_metric == "accuracy" else value)
    return float(np.mean(scores))


def train(model: TaskModel, tokenizer, tasks: list[TaskData], cfg: TrainConfig, checkpoint_dir: str | Path,
          log_path: str | Path, seed: int, mixing: dict | None = None, strategy=None,
          variant: str = "standard") -> dict[str, dict]:
    """Train with `strategy` (standard or adversarial step); keep the checkpoint with the best dev
    selection score; return {task: dev metrics} of it."""
    set_seed(seed)
    strategy = strategy or Standard()
    device, autocast = device_and_autocast()
    model.to(device)
    pad_id = tokenizer.pad_token_id
    mixing = mixing or {}
    train_sets = {t.name: (t.train.sample(n=min(cfg.max_train_examples, len(t.train)), random_state=seed)
                           if cfg.max_train_examples else t.train) for t in tasks}
    sizes = {name: len(df) for name, df in train_sets.items()}
    weights = sampling_weights(sizes, mixing.get("cap"), mixing.get("temperature", 1.0))
    effective = sum(min(n, mixing.get("cap") or n) for n in sizes.values())
    steps_per_epoch = math.ceil(effective / (cfg.batch_size * cfg.grad_accum))
    total_steps = cfg.max_steps or max(1, round(cfg.epochs * steps_per_epoch))
    eval_every = cfg.eval_every or steps_per_epoch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]  # biases and norms
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.learning_rate, fused=device.type == "cuda")
    scheduler = get_linear_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * total_steps), total_steps)
    generator = torch.Generator().manual_seed(seed)
    by_name = {t.name: t for t in tasks}
    names = list(by_name)
    probs = torch.tensor([weights[n] for n in names])

    def micro_batches(task: TaskData):
        module, df = get_format(task.spec.format), train_sets[task.name]
        while True:  # epochs of shuffled micro-batches
            order = torch.randperm(len(df), generator=generator).numpy()
            for i in range(0, len(order), cfg.batch_size):
                yield module.collate(df.iloc[order[i:i + cfg.batch_size]], pad_id)

    streams = {t.name: micro_batches(t) for t in tasks}
    best_score, best = -math.inf, {}
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log, tqdm(total=total_steps, desc="train", mininterval=5) as bar:
        def write_log(record):
            log.write(json.dumps(record) + "\n")
            log.flush()

        write_log({"variant": variant, "sampling_weights": weights, "train_examples": sizes,
                   "total_steps": total_steps})
        t0, skipped = time.time(), 0
        for step in range(1, total_steps + 1):
            model.train()
            step_loss, drawn = 0.0, []
            for _ in range(cfg.grad_accum):
                name = names[int(torch.multinomial(probs, 1, generator=generator))] if len(names) > 1 else names[0]
                batch = to_device(next(streams[name]), device)
                ctx = step_context(model, batch, name, by_name[name].spec.format, 1 / cfg.grad_accum, autocast)
                step_loss += strategy.step(ctx) / cfg.grad_accum
                drawn.append(name)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm))
            record = {"step": step, "loss": step_loss, "grad_norm": grad_norm, "lr": scheduler.get_last_lr()[0]}
            if math.isfinite(step_loss) and math.isfinite(grad_norm):
                optimizer.step()
                scheduler.step()
                strategy.after_optimizer_step(model)
            elif cfg.skip_nonfinite_steps:
                skipped += 1
                record.update(skipped=True, skipped_total=skipped)
            else:
                raise FloatingPointError(
                    f"non-finite loss or gradient at step {step} (variant {variant!r}, tasks {drawn}): "
                    f"loss={step_loss}, grad_norm={grad_norm}. Lower the learning rate or the perturbation "
                    f"size, or set skip_nonfinite_steps: true in the training block to skip such steps "
                    f"(they are then counted in the train log).")
            optimizer.zero_grad(set_to_none=True)
            bar.update(1)
            record["elapsed_s"] = round(time.time() - t0, 3)
            write_log({**record, "tasks": drawn} if len(names) > 1 else record)
            if step % eval_every == 0 or step == total_steps:
                metrics = {t.name: evaluate(model, t.dev, t.dev_examples, t.spec, pad_id, cfg.eval_batch_size,
                                            t.name)[1] for t in tasks}
                score = selection_score(metrics, tasks)
                write_log({"step": step, "dev": metrics, "selection_score": score, "best": score > best_score})
                if score > best_score:
                    best_score, best = score, {name: {**m, "step": step} for name, m in metrics.items()}
                    save_checkpoint(model, tokenizer, checkpoint_dir)
    return best
