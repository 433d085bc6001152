"""The training loop: AdamW, linear warmup/decay, gradient accumulation, bf16 autocast on GPU (fp32 on
CPU), periodic evaluation on English dev splits with best-checkpoint selection, a JSONL log.

One loop serves single- and multi-task training: each micro-batch comes from one task, drawn with
probability ~ min(size, cap)^(1/temperature) (a single task is always drawn)."""
from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from xlt.adversarial.methods import Standard, StepContext
from xlt.train.batching import BatchPlanner, Prefetcher
from xlt.train.progress import Progress, header
from xlt.model.compiling import BUCKET, compile_body
from xlt.adversarial.budgets import measure_embedding_scale, ratio_record
from xlt.model.formats import get_format
from xlt.model.metrics import points
from xlt.io import atomic_path
from xlt.model.modeling import TaskModel, save_checkpoint
from xlt.train.resume import BatchStream, TerminationFlag, fault_injection, load_state, restore_rng, rng_state, save_state


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
    save_every: int | None = 500        # optimizer steps between resumable states (None: only on SIGTERM)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% more time
    lora: dict | None = None            # {r, alpha, dropout, target_modules}: train adapters, not the body
    group_by_length: bool = False       # length-grouped batches: much less padding, same randomness of order
    attention: str = "sdpa"             # Bloom attention: sdpa (fused ALiBi, xlt/model/attention.py) or eager (transformers')
    compile: bool = False               # torch.compile the body; batches padded to length buckets (one graph each)
    save_dtype: str = "float32"         # the checkpoint's body: float32, or bfloat16 (half the disk; loads as fp32)

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


def linear_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Linear warmup from 0, then linear decay to 0 at `total_steps` — transformers'
    get_linear_schedule_with_warmup, written out: importing transformers.optimization pulls in peft and
    costs every training and evaluation job ~2.5 s of start-up."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def schedule_steps(cfg: TrainConfig, sizes: dict[str, int], mixing: dict | None = None) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) of a run on training sets of `sizes` examples
    (after max_train_examples); the selection stage shortens this schedule (xlt/workflow/selection.py)."""
    mixing = mixing or {}
    effective = sum(min(n, mixing.get("cap") or n) for n in sizes.values())
    steps_per_epoch = math.ceil(effective / (cfg.batch_size * cfg.grad_accum))
    return steps_per_epoch, cfg.max_steps or max(1, round(cfg.epochs * steps_per_epoch))


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


def sampling_weights(sizes: dict[str, int], cap: int | None = None, temperature: float = 1.0) -> dict[str, float]:
    """Examples-proportional mixing with an artificial size cap and a temperature (Raffel et al. 2020)."""
    raw = {t: min(n, cap or n) ** (1.0 / temperature) for t, n in sizes.items()}
    total = sum(raw.values())
    return {t: w / total for t, w in raw.items()}


@torch.inference_mode()
def infer(model: TaskModel, arrays: dict, order: np.ndarray, fmt: str, pad_id: int, batch_size: int,
          task: str | None = None) -> list[torch.Tensor]:
    """Logits of the features `order` picks from `arrays` (xlt/model/formats), in that order, one chunk per batch."""
    device, autocast = device_and_autocast()
    module = get_format(fmt)
    model.eval()
    out = []
    for i in range(0, len(order), batch_size):
        batch = to_device(module.collate_arrays(arrays, order[i:i + batch_size], pad_id), device)
        with autocast:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], task=task)
        out.append(logits.float().cpu())
    return out


def evaluate(model: TaskModel, features: pd.DataFrame, examples: pd.DataFrame, spec: TaskSpec, pad_id: int,
             batch_size: int, task: str | None = None) -> tuple[dict, dict]:
    """(predictions {id: prediction}, metrics) for `examples`; features are scored longest first so each
    batch pads little (predictions are keyed by example, ties broken by the original feature order, which
    the reordered frame's index keeps)."""
    module = get_format(spec.format)
    features = features.reset_index(drop=True)
    arrays = module.arrays(features)
    order = np.argsort(-module.lengths(arrays), kind="stable")
    logits = infer(model, arrays, order, spec.format, pad_id, batch_size, task)
    preds = module.predictions(features.iloc[order], logits, examples, **spec.options)
    return preds, module.score(preds, examples, **spec.options)


def step_context(model: TaskModel, batch: dict, task: str, fmt: str, scale: float, autocast,
                 embedding_scale: float | None = None, monitor: bool = False) -> StepContext:
    def apply(m, embeds):
        with autocast:
            return m(inputs_embeds=embeds, attention_mask=batch["attention_mask"], task=task)
    return StepContext(model=model, batch=batch, task=task, fmt=get_format(fmt), apply=apply, scale=scale,
                       embedding_scale=embedding_scale, monitor=monitor)


SCALE_FEATURES = 64  # the first features of each task's train split measure the embedding scale


def embedding_scale(model: TaskModel, arrays: dict[str, dict], sizes: dict[str, int], modules: dict, pad_id: int,
                    device) -> dict:
    """budgets.measure_embedding_scale on the first SCALE_FEATURES features of each task (file order,
    no RNG draw: measuring must not change the run)."""
    batches = [to_device(modules[name].collate_arrays(a, np.arange(min(SCALE_FEATURES, sizes[name])), pad_id), device)
               for name, a in arrays.items()]
    return measure_embedding_scale(model, batches)


def selection_score(metrics: dict[str, dict], tasks: list[TaskData]) -> float:
    """Mean over tasks of each task's selection metric in points (0-100; xlt/model/metrics.py `points`)."""
    return float(np.mean([points(t.spec.selection_metric, metrics[t.name][t.spec.selection_metric]) for t in tasks]))


class Preempted(RuntimeError):
    """SIGTERM arrived; the resumable state was saved and the run stops (the scheduler re-runs it)."""


def train(model: TaskModel, tokenizer, tasks: list[TaskData], cfg: TrainConfig, checkpoint_dir: str | Path,
          log_path: str | Path, seed: int, mixing: dict | None = None, strategy=None,
          variant: str = "standard", work_dir: str | Path | None = None,
          log_header: dict | None = None, on_record=None) -> dict[str, dict]:
    """Train with `strategy` (standard or adversarial step); keep the checkpoint with the best dev
    selection score; return {task: dev metrics} of it.

    Progress lives in `work_dir` (default: next to the checkpoint) and resumes from there when a state
    is found; the checkpoint and the log reach their final paths only when training completes.
    The log starts with the run's measured embedding scale (and `log_header`); adversarial steps log
    their perturbation's ratio to the embeddings (xlt/adversarial/budgets.py); every step logs the real
    (non-pad) tokens it trained on and its own duration (`step_s`: dev evaluations excluded), from which
    throughput is measured. `on_record(record)` sees every logged record (e.g. TensorBoard scalars). The
    job's own log (stdout) gets a header and a timestamped line every few steps (xlt/train/progress.py);
    the tqdm bar only on a terminal."""
    set_seed(seed)
    strategy = strategy or Standard()
    device, autocast = device_and_autocast()
    model.to(device)
    pad_id = tokenizer.pad_token_id
    mixing = mixing or {}
    work = Path(work_dir or Path(checkpoint_dir).parent / "resume")
    work.mkdir(parents=True, exist_ok=True)
    train_sets = {t.name: (t.train.sample(n=min(cfg.max_train_examples, len(t.train)), random_state=seed)
                           if cfg.max_train_examples else t.train) for t in tasks}
    sizes = {name: len(df) for name, df in train_sets.items()}
    weights = sampling_weights(sizes, mixing.get("cap"), mixing.get("temperature", 1.0))
    steps_per_epoch, total_steps = schedule_steps(cfg, sizes, mixing)
    eval_every = cfg.eval_every or steps_per_epoch

    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # LoRA freezes the body
    decay = [p for n, p in trainable if p.ndim >= 2]
    no_decay = [p for n, p in trainable if p.ndim < 2]  # biases and norms
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.learning_rate, fused=device.type == "cuda")
    scheduler = linear_schedule(optimizer, round(cfg.warmup_ratio * total_steps), total_steps)
    generator = torch.Generator().manual_seed(seed)
    by_name = {t.name: t for t in tasks}
    names = list(by_name)
    probs = torch.tensor([weights[n] for n in names])
    modules = {t.name: get_format(t.spec.format) for t in tasks}
    arrays = {name: modules[name].arrays(df) for name, df in train_sets.items()}  # batch-ready, built once
    streams = {t.name: BatchStream(len(train_sets[t.name]), cfg.batch_size, generator,
                                   modules[t.name].lengths(arrays[t.name]) if cfg.group_by_length else None)
               for t in tasks}
    planner = BatchPlanner(names, probs, streams, generator, ahead=2 * cfg.grad_accum)
    bucket = BUCKET if cfg.compile else None
    if cfg.compile:
        compile_body(model)

    def collate(name, idx):
        return modules[name].collate_arrays(arrays[name], idx, pad_id, multiple_of=bucket)

    start, best_score, best, skipped, log_bytes = 1, -math.inf, {}, 0, 0
    adversarial = type(strategy) is not Standard
    state = load_state(work)
    if state is not None:  # resume exactly where the last saved state left off
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], generator)
        for name, s in state["streams"].items():
            streams[name].load_state_dict(s)
        planner.load_state_dict(state.get("planner"))
        strategy.load_state_dict(state["strategy"], model)
        start, best_score, best, skipped, log_bytes = (state["step"] + 1, state["best_score"], state["best"],
                                                       state["skipped"], state["log_bytes"])
        scale = state["embedding_scale"]
    else:  # measured on the model as the run starts, kept for the whole run (and across resumes)
        scale = embedding_scale(model, arrays, sizes, modules, pad_id, device)

    log_file = work / "train_log.jsonl"
    if state is None:
        log_file.write_text("")
    prefetch = Prefetcher(planner, collate, pin=device.type == "cuda")
    progress = Progress(total_steps, start)
    progress.write(header({
        **{k: v for k, v in (log_header or {}).items() if k != "variant_block"},
        "tasks": ", ".join(names), "variant": variant, "variant block": (log_header or {}).get("variant_block"),
        "learning rate": cfg.learning_rate, "seed": seed,
        "steps": f"{total_steps} optimizer steps ({steps_per_epoch} per epoch), batch {cfg.batch_size} x "
                 f"grad_accum {cfg.grad_accum}, warmup {round(cfg.warmup_ratio * total_steps)}, dev every {eval_every}",
        "train examples": sizes, "device": str(device),
        "resumed": f"at step {start} (saved state in {work})" if state is not None else None,
        "step log": ("every step" if progress.every == 1 else f"every {progress.every} steps") + " here; every "
                    f"step in train_log.jsonl (loss, lr, grad_norm): {work / 'train_log.jsonl'} while running, "
                    f"{log_path} when done"}))
    # the bar only on a terminal: in a job's log file its redraws are noise, the lines above are the record
    with open(log_file, "r+", encoding="utf-8") as log, TerminationFlag() as term, contextlib.closing(prefetch), \
            tqdm(total=total_steps, initial=start - 1, desc="train", mininterval=5, disable=None) as bar:
        log.truncate(log_bytes)  # drop what was logged after the saved state
        log.seek(log_bytes)

        def write_log(record):
            log.write(json.dumps(record) + "\n")
            log.flush()
            if on_record is not None:
                on_record(record)

        def checkpoint_state(step):
            save_state(work, {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "scheduler": scheduler.state_dict(), "rng": rng_state(generator),
                              "streams": {n: s.state_dict() for n, s in streams.items()},
                              "planner": planner.state_dict(),
                              "strategy": strategy.state_dict(), "best_score": best_score, "best": best,
                              "skipped": skipped, "log_bytes": log.tell(), "embedding_scale": scale})

        if state is None:
            write_log({"variant": variant, **(log_header or {}), "embedding_scale": scale,
                       "sampling_weights": weights, "train_examples": sizes, "total_steps": total_steps})
        else:
            write_log({"resumed_at_step": start})
        t0 = time.time()
        for step in range(start, total_steps + 1):
            model.train()
            step_loss, drawn, ratios, tokens, sequences, step_t0 = 0.0, [], None, 0, 0, time.perf_counter()
            for _ in range(cfg.grad_accum):
                name, batch = prefetch.get()
                tokens += int(batch["attention_mask"].sum())  # on the host still: no device sync
                sequences += len(batch["attention_mask"])
                batch = to_device(batch, device)
                ctx = step_context(model, batch, name, by_name[name].spec.format, 1 / cfg.grad_accum, autocast,
                                   scale["token_l2_rms"], monitor=adversarial)
                step_loss += strategy.step(ctx) / cfg.grad_accum
                drawn.append(name)
                if ctx.ratios is not None:
                    ratios = ctx.ratios if ratios is None else torch.maximum(ratios, ctx.ratios)
            grad_norm = float(torch.nn.utils.clip_grad_norm_([p for _, p in trainable], cfg.max_grad_norm))
            record = {"step": step, "loss": step_loss, "grad_norm": grad_norm, "lr": scheduler.get_last_lr()[0]}
            if ratios is not None:  # ||delta|| / ||e|| of the step's perturbations (max over its passes)
                record["perturbation"] = ratio_record(ratios)
            if math.isfinite(step_loss) and math.isfinite(grad_norm):
                optimizer.step()
                scheduler.step()
                strategy.after_optimizer_step(model)
            elif cfg.skip_nonfinite_steps:
                skipped += 1
                record.update(skipped=True, skipped_total=skipped)
            else:
                progress.step(step, step_loss, record["lr"], grad_norm, tokens, sequences)  # said in the job log first
                raise FloatingPointError(
                    f"non-finite loss or gradient at step {step} (variant {variant!r}, tasks {drawn}): "
                    f"loss={step_loss}, grad_norm={grad_norm}. Lower the learning rate or the perturbation "
                    f"size, or set skip_nonfinite_steps: true in the training block to skip such steps "
                    f"(they are then counted in the train log).")
            optimizer.zero_grad(set_to_none=True)
            bar.update(1)
            progress.step(step, step_loss, record["lr"], grad_norm, tokens, sequences, skipped)
            record.update(tokens=tokens, step_s=round(time.perf_counter() - step_t0, 4))
            record["elapsed_s"] = round(time.time() - t0, 3)
            write_log({**record, "tasks": drawn} if len(names) > 1 else record)
            if step % eval_every == 0 or step == total_steps:
                metrics = {t.name: evaluate(model, t.dev, t.dev_examples, t.spec, pad_id, cfg.eval_batch_size,
                                            t.name)[1] for t in tasks}
                score = selection_score(metrics, tasks)
                write_log({"step": step, "dev": metrics, "selection_score": score, "best": score > best_score})
                progress.evaluated(step, score, score > best_score)
                if score > best_score:
                    best_score, best = score, {name: {**m, "step": step} for name, m in metrics.items()}
                    save_checkpoint(model, tokenizer, work / "best", cfg.save_dtype)
            fault_injection(step, work)
            if term.raised or (cfg.save_every and step % cfg.save_every == 0 and step < total_steps):
                checkpoint_state(step)
                if term.raised:
                    write_log({"preempted_at_step": step})
                    progress.write(f"SIGTERM after step {step}/{total_steps}: state saved in {work}; a re-run resumes here")
                    raise Preempted(f"SIGTERM at step {step}: state saved in {work}; re-run to resume")
    # complete: publish the best checkpoint and the log, then drop the work folder
    with atomic_path(checkpoint_dir) as tmp:
        (work / "best").rename(tmp)
    with atomic_path(log_path) as tmp:
        log_file.rename(tmp)
    shutil.rmtree(work, ignore_errors=True)
    return best
