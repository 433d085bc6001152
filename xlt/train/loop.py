"""The training loop: AdamW, linear warmup/decay, gradient accumulation, bf16 autocast on GPU (fp32 on
CPU), periodic evaluation on English dev splits with best-checkpoint selection, a JSONL log.

One loop serves single- and multi-task training: each micro-batch comes from one task, drawn with
probability ~ min(size, cap)^(1/temperature) (a single task is always drawn).

`train` reads top-down as nanoGPT's train.py: set up the data, schedule and optimizer; resume from a saved
RunState (xlt/train/state.py) or start; then the step loop, a comment per phase (forward/backward, update,
log, dev evaluation, save). Each phase is a named function above it."""
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
from typing import NoReturn

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
from xlt.train.resume import BatchStream, TerminationFlag, fault_injection, load_state, save_state
from xlt.train.state import RunState


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


def step_context(model: TaskModel, batch: dict, task: str, fmt, scale: float, autocast,  # fmt: the format module
                 embedding_scale: float | None = None, monitor: bool = False) -> StepContext:
    def apply(m, embeds):
        with autocast:
            return m(inputs_embeds=embeds, attention_mask=batch["attention_mask"], task=task)
    return StepContext(model=model, batch=batch, task=task, fmt=fmt, apply=apply, scale=scale,
                       embedding_scale=embedding_scale, monitor=monitor)


SCALE_FEATURES = 64  # the first features of each task's train split measure the embedding scale


def selection_score(metrics: dict[str, dict], tasks: list[TaskData]) -> float:
    """Mean over tasks of each task's selection metric in points (0-100; xlt/model/metrics.py `points`)."""
    return float(np.mean([points(t.spec.selection_metric, metrics[t.name][t.spec.selection_metric]) for t in tasks]))


class Preempted(RuntimeError):
    """SIGTERM arrived; the resumable state was saved and the run stops (the scheduler re-runs it)."""


@dataclass
class TrainingData:
    """The run's training features, batch-ready (arrays built once), and the resumable draw of the next
    micro-batch: the batch RNG, each task's shuffled stream and the planner that mixes them
    (xlt/train/batching.py)."""
    sizes: dict[str, int]        # training features per task (after max_train_examples)
    weights: dict[str, float]    # the mixing probabilities (sampling_weights)
    modules: dict                # task -> its format module (xlt/model/formats)
    arrays: dict[str, dict]
    generator: torch.Generator
    streams: dict[str, BatchStream]
    planner: BatchPlanner
    pad_id: int
    bucket: int | None           # pad lengths to multiples of this (compiled bodies: one graph per bucket)

    def collate(self, name: str, idx: np.ndarray) -> dict:
        return self.modules[name].collate_arrays(self.arrays[name], idx, self.pad_id, multiple_of=self.bucket)


def training_data(tasks: list[TaskData], cfg: TrainConfig, seed: int, mixing: dict, pad_id: int) -> TrainingData:
    """Each task's training features (max_train_examples of them, drawn with the run's seed) and their draw."""
    train_sets = {t.name: (t.train.sample(n=min(cfg.max_train_examples, len(t.train)), random_state=seed)
                           if cfg.max_train_examples else t.train) for t in tasks}
    sizes = {name: len(df) for name, df in train_sets.items()}
    weights = sampling_weights(sizes, mixing.get("cap"), mixing.get("temperature", 1.0))
    modules = {t.name: get_format(t.spec.format) for t in tasks}
    arrays = {name: modules[name].arrays(df) for name, df in train_sets.items()}
    generator = torch.Generator().manual_seed(seed)
    streams = {name: BatchStream(size, cfg.batch_size, generator,
                                 modules[name].lengths(arrays[name]) if cfg.group_by_length else None)
               for name, size in sizes.items()}
    names = list(streams)
    probs = torch.tensor([weights[n] for n in names])
    planner = BatchPlanner(names, probs, streams, generator, ahead=2 * cfg.grad_accum)
    return TrainingData(sizes, weights, modules, arrays, generator, streams, planner, pad_id,
                        BUCKET if cfg.compile else None)


def embedding_scale(model: TaskModel, data: TrainingData, device) -> dict:
    """budgets.measure_embedding_scale on the first SCALE_FEATURES features of each task (file order,
    no RNG draw: measuring must not change the run)."""
    batches = [to_device(data.modules[name].collate_arrays(a, np.arange(min(SCALE_FEATURES, data.sizes[name])),
                                                           data.pad_id), device)
               for name, a in data.arrays.items()]
    return measure_embedding_scale(model, batches)


@dataclass(frozen=True)
class Schedule:
    """The run's length in optimizer steps (schedule_steps), its warmup and its dev evaluations."""
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    eval_every: int  # optimizer steps between dev evaluations (the last step is evaluated too)

    @classmethod
    def of(cls, cfg: TrainConfig, sizes: dict[str, int], mixing: dict) -> "Schedule":
        per_epoch, total = schedule_steps(cfg, sizes, mixing)
        return cls(per_epoch, total, round(cfg.warmup_ratio * total), cfg.eval_every or per_epoch)

    def evaluates(self, step: int) -> bool:
        return step % self.eval_every == 0 or step == self.total_steps


def make_optimizer(trainable: list[torch.nn.Parameter], cfg: TrainConfig, schedule: Schedule, device):
    """AdamW, weight decay on matrices only (not on biases and norms), with the linear warmup/decay schedule."""
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg.learning_rate, fused=device.type == "cuda")
    return optimizer, linear_schedule(optimizer, schedule.warmup_steps, schedule.total_steps)


def job_header(cfg: TrainConfig, schedule: Schedule, data: TrainingData, seed: int, variant: str,
               log_header: dict | None, device, resumed_at: int | None, work: Path, log_path, every: int) -> str:
    """The job log's first lines: what runs, its schedule, where the per-step log is (xlt/train/progress.py)."""
    log_header = log_header or {}
    return header({
        **{k: v for k, v in log_header.items() if k != "variant_block"},
        "tasks": ", ".join(data.streams), "variant": variant, "variant block": log_header.get("variant_block"),
        "learning rate": cfg.learning_rate, "seed": seed,
        "steps": f"{schedule.total_steps} optimizer steps ({schedule.steps_per_epoch} per epoch), batch "
                 f"{cfg.batch_size} x grad_accum {cfg.grad_accum}, warmup {schedule.warmup_steps}, dev every "
                 f"{schedule.eval_every}",
        "train examples": data.sizes, "device": str(device),
        "resumed": f"at step {resumed_at} (saved state in {work})" if resumed_at is not None else None,
        "step log": ("every step" if every == 1 else f"every {every} steps") + " here; every step in "
                    f"train_log.jsonl (loss, lr, grad_norm): {work / 'train_log.jsonl'} while running, "
                    f"{log_path} when done"})


def first_record(variant: str, log_header: dict | None, run: RunState, data: TrainingData, schedule: Schedule) -> dict:
    return {"variant": variant, **(log_header or {}), "embedding_scale": run.embedding_scale,
            "sampling_weights": data.weights, "train_examples": data.sizes, "total_steps": schedule.total_steps}


class TrainLog:
    """train_log.jsonl while the run lasts: a JSON record a line, flushed, each also shown to `on_record`.
    A fresh run starts it empty (offset None); a resumed run cuts it at the saved state's offset."""

    def __init__(self, path: Path, offset: int | None, on_record=None):
        self.file = open(path, "w+" if offset is None else "r+", encoding="utf-8")
        self.file.truncate(offset or 0)  # drop what was logged after the saved state
        self.file.seek(offset or 0)
        self.on_record = on_record

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.on_record is not None:
            self.on_record(record)

    def tell(self) -> int:
        return self.file.tell()

    def __enter__(self) -> "TrainLog":
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


@dataclass
class Accumulated:
    """One optimizer step's micro-batches: their mean loss, tasks, real tokens and sequences, and the
    largest perturbation ratios of their adversarial passes."""
    loss: float = 0.0
    drawn: list[str] = field(default_factory=list)
    tokens: int = 0
    sequences: int = 0
    ratios: torch.Tensor | None = None


def forward_backward(run: RunState, prefetch: Prefetcher, modules: dict, grad_accum: int, autocast,
                     device) -> Accumulated:
    """grad_accum micro-batches, each from one task, through the strategy's passes; gradients add up."""
    run.model.train()
    out = Accumulated()
    for _ in range(grad_accum):
        name, batch = prefetch.get()
        out.tokens += int(batch["attention_mask"].sum())  # on the host still: no device sync
        out.sequences += len(batch["attention_mask"])
        batch = to_device(batch, device)
        ctx = step_context(run.model, batch, name, modules[name], 1 / grad_accum, autocast,
                           run.embedding_scale["token_l2_rms"], monitor=type(run.strategy) is not Standard)
        out.loss += run.strategy.step(ctx) / grad_accum
        out.drawn.append(name)
        if ctx.ratios is not None:
            out.ratios = ctx.ratios if out.ratios is None else torch.maximum(out.ratios, ctx.ratios)
    return out


def optimizer_step(run: RunState, step: int, micro: Accumulated, trainable: list, cfg: TrainConfig,
                   progress: Progress, variant: str) -> dict:
    """Clip the gradient and update: the step's train-log record. A non-finite loss or gradient norm skips
    the update (counted, with skip_nonfinite_steps) or stops the run, said in the job log first."""
    grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm))
    record = {"step": step, "loss": micro.loss, "grad_norm": grad_norm, "lr": run.scheduler.get_last_lr()[0]}
    if micro.ratios is not None:  # ||delta|| / ||e|| of the step's perturbations (max over its passes)
        record["perturbation"] = ratio_record(micro.ratios)
    if math.isfinite(micro.loss) and math.isfinite(grad_norm):
        run.optimizer.step()
        run.scheduler.step()
        run.strategy.after_optimizer_step(run.model)
    elif cfg.skip_nonfinite_steps:
        run.skipped += 1
        record.update(skipped=True, skipped_total=run.skipped)
    else:
        progress.step(step, micro.loss, record["lr"], grad_norm, micro.tokens, micro.sequences)
        raise FloatingPointError(
            f"non-finite loss or gradient at step {step} (variant {variant!r}, tasks {micro.drawn}): "
            f"loss={micro.loss}, grad_norm={grad_norm}. Lower the learning rate or the perturbation "
            f"size, or set skip_nonfinite_steps: true in the training block to skip such steps "
            f"(they are then counted in the train log).")
    run.optimizer.zero_grad(set_to_none=True)
    return record


def save_resumable(run: RunState, log: TrainLog, work: Path) -> None:
    """state.pt (atomic) with the train log's length now: a resumed run cuts the log there."""
    run.log_bytes = log.tell()
    save_state(work, run.state_dict())


def preempt(step: int, total_steps: int, work: Path, log: TrainLog, progress: Progress) -> NoReturn:
    """SIGTERM (SLURM preemption, a time limit): after the state was saved, stop; a re-run resumes here."""
    log.write({"preempted_at_step": step})
    progress.write(f"SIGTERM after step {step}/{total_steps}: state saved in {work}; a re-run resumes here")
    raise Preempted(f"SIGTERM at step {step}: state saved in {work}; re-run to resume")


def evaluate_dev(run: RunState, tasks: list[TaskData], tokenizer, cfg: TrainConfig, work: Path, log: TrainLog,
                 progress: Progress) -> None:
    """Score each task's English dev split after `run.step` (in both logs); a selection score above the best
    so far makes this the run's checkpoint (kept in the work folder until the run completes)."""
    metrics = {t.name: evaluate(run.model, t.dev, t.dev_examples, t.spec, tokenizer.pad_token_id,
                                cfg.eval_batch_size, t.name)[1] for t in tasks}
    score = selection_score(metrics, tasks)
    log.write({"step": run.step, "dev": metrics, "selection_score": score, "best": score > run.best_score})
    progress.evaluated(run.step, score, score > run.best_score)
    if score > run.best_score:
        run.best_score, run.best = score, {name: {**m, "step": run.step} for name, m in metrics.items()}
        save_checkpoint(run.model, tokenizer, work / "best", cfg.save_dtype)


def publish(work: Path, checkpoint_dir: str | Path, log_path: str | Path) -> None:
    """The run is complete: the best checkpoint and the log reach their final paths; the work folder goes."""
    with atomic_path(checkpoint_dir) as tmp:
        (work / "best").rename(tmp)
    with atomic_path(log_path) as tmp:
        (work / "train_log.jsonl").rename(tmp)
    shutil.rmtree(work, ignore_errors=True)


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
    device, autocast = device_and_autocast()
    model.to(device)
    work = Path(work_dir or Path(checkpoint_dir).parent / "resume")
    work.mkdir(parents=True, exist_ok=True)
    data = training_data(tasks, cfg, seed, mixing or {}, tokenizer.pad_token_id)
    schedule = Schedule.of(cfg, data.sizes, mixing or {})
    trainable = [p for p in model.parameters() if p.requires_grad]  # LoRA freezes the body
    optimizer, scheduler = make_optimizer(trainable, cfg, schedule, device)
    run = RunState(model, optimizer, scheduler, data.generator, data.streams, data.planner, strategy or Standard())
    if cfg.compile:
        compile_body(model)
    saved = load_state(work)
    if saved is not None:  # resume exactly where the last saved state left off
        run.load_state_dict(saved)
    else:  # measured on the model as the run starts, kept for the whole run (and across resumes)
        run.embedding_scale = embedding_scale(model, data, device)
    resumed_at = run.step + 1 if saved is not None else None
    prefetch = Prefetcher(data.planner, data.collate, pin=device.type == "cuda")
    progress = Progress(schedule.total_steps, run.step + 1)
    progress.write(job_header(cfg, schedule, data, seed, variant, log_header, device, resumed_at, work, log_path,
                              progress.every))
    # the bar only on a terminal: in a job's log file its redraws are noise, the lines above are the record
    with (TrainLog(work / "train_log.jsonl", run.log_bytes if resumed_at is not None else None, on_record) as log,
          TerminationFlag() as term, contextlib.closing(prefetch),
          tqdm(total=schedule.total_steps, initial=run.step, desc="train", mininterval=5, disable=None) as bar):
        log.write(first_record(variant, log_header, run, data, schedule) if resumed_at is None
                  else {"resumed_at_step": resumed_at})
        t0 = time.time()
        for step in range(run.step + 1, schedule.total_steps + 1):
            # forward and backward: grad_accum micro-batches, each drawn from one task
            step_t0 = time.perf_counter()
            micro = forward_backward(run, prefetch, data.modules, cfg.grad_accum, autocast, device)
            # clip and update (a non-finite step is skipped and counted, or stops the run)
            record = optimizer_step(run, step, micro, trainable, cfg, progress, variant)
            run.step = step
            # log the step: a line in the job log every few steps, a record in the train log every step
            bar.update(1)
            progress.step(step, micro.loss, record["lr"], record["grad_norm"], micro.tokens, micro.sequences,
                          run.skipped)
            record.update(tokens=micro.tokens, step_s=round(time.perf_counter() - step_t0, 4),
                          elapsed_s=round(time.time() - t0, 3))
            log.write({**record, "tasks": micro.drawn} if len(data.streams) > 1 else record)
            # evaluate on the English dev splits; a better selection score keeps this checkpoint
            if schedule.evaluates(step):
                evaluate_dev(run, tasks, tokenizer, cfg, work, log, progress)
            # save the resumable state every save_every steps, and on SIGTERM, which then stops the run
            fault_injection(step, work)
            if term.raised or (cfg.save_every and step % cfg.save_every == 0 and step < schedule.total_steps):
                save_resumable(run, log, work)
            if term.raised:
                preempt(step, schedule.total_steps, work, log, progress)
    publish(work, checkpoint_dir, log_path)
    return run.best
