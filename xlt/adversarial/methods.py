"""Training-step strategies: standard training and adversarial training on input embeddings.

Every strategy implements `step(ctx) -> loss value`: it runs its forward passes through
`ctx.run(inputs_embeds)`, calls backward so that parameter gradients accumulate (scaled by
`ctx.scale` = 1 / grad_accum), and never touches model weights: perturbations live in tensors the
strategy owns (added to the embeddings via `inputs_embeds`), are zero on pad positions, and are
discarded after the step. One optimizer step follows, taken by the training loop.

Losses that combine a clean and an adversarial pass are averaged ((clean + adv) / 2), so a zero-size
perturbation reproduces standard training's gradients exactly (the summed form of the papers is the
same objective at twice the learning rate).

Sizes follow one convention (xlt/adversarial/budgets.py): each is an example-L2 or an element size, absolute by
default or, with `scale: embedding`, relative to the embeddings' own size in that norm.

`dropout: shared` (the default) gives every forward pass of a step the first pass's dropout masks
(StepContext.run), so in training mode a step's passes differ by their perturbation only — Zhu et al.'s
FreeLB code does this (`dp_masks`); without it SMART's and R3F's KL terms mostly measure the difference
between two dropout draws. `dropout: independent` draws new masks in every pass.

Perturbation noise (FreeLB's and PGD's random starts, SMART's and R3F's noise) comes from a generator of
its own (`noise_generator`, seeded from the run's seed), never from the global stream the clean pass's
dropout masks come from. So at radius 0 with shared dropout every method takes exactly standard
training's steps, every step (tests/test_adversarial.py), and the variants of one seed draw the same masks
as its standard run: the seed pairing of the statistics is as tight as the design says.

Methods and sources (defaults in config.yaml):
  fgm    Miyato et al. 2017: one ascent step r = eps * g / ||g||_2, the norm over each example.
  pgd    Madry et al. 2018: K ascent steps of size alpha, projected onto the eps-ball (L2 or Linf).
  freelb Zhu et al. 2020 (and their code): K passes (K - 1 ascent updates, as `adv_steps` of their
         run_glue_freelb.py) on delta from a uniform start of size init_mag, each adding grad(loss / K) to
         the parameters, per-example L2 projection to max_norm.
  smart  Jiang et al. 2020, Algorithm 1: noise N(0, noise_std^2), T ascent steps on the symmetric
         l_s(f(x), f(x + delta)) (or mt-dnn's one-sided KL(f(x + delta) || f(x)): `ascent_objective: kl`)
         of size step_size along g / ||g||_inf (per example), each projected onto
         the L-inf ball ||delta||_inf <= epsilon; loss = CE + lambda_s * symmetric KL; optional Bregman
         proximal point term against a momentum teacher.
  r3f    Aghajanyan et al. 2021 (fairseq examples/rxf): random noise U(-eps, eps) or N(0, eps^2) added to the
         detached embeddings, symmetric KL, no ascent.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from xlt.adversarial.budgets import measure_embedding_scale, perturbation_ratios

NOISE_SALT = 0x5EEDADD5  # keeps the noise stream apart from the global one that `set_seed` seeds alike


def noise_generator(device) -> torch.Generator:
    """The generator a strategy draws its perturbation noise from: seeded from the run's seed
    (torch.initial_seed(), fixed by the loop's set_seed) but separate from the global stream, whose numbers
    the clean pass's dropout masks use."""
    g = torch.Generator(device=device)
    g.manual_seed((torch.initial_seed() ^ NOISE_SALT) % 2 ** 63)
    return g


@dataclass
class StepContext:
    model: torch.nn.Module
    batch: dict
    task: str
    fmt: object                                   # the format module (loss, distributions)
    apply: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]  # (model, inputs_embeds) -> logits, autocast inside
    scale: float                                  # 1 / grad_accum
    embedding_scale: float | None = None          # s: RMS per-token L2 norm of the embeddings (budgets.py)
    monitor: bool = False                         # measure each perturbation's ratio to the embeddings
    forwards: int = 0                             # forward passes run in this step (for benchmarks/tests)
    trace: list | None = None                     # when a list, every perturbation is appended (tests)
    ratios: torch.Tensor | None = None            # running max of budgets.perturbation_ratios over the step
    shared_dropout: bool = False                  # every pass reuses the first pass's dropout masks (`dropout: shared`)
    regulariser: torch.Tensor | None = None       # SMART's / R3F's KL term of this step, detached (benchmarks/tests)
    _clean: torch.Tensor | None = field(default=None, repr=False)
    _rng: tuple | None = field(default=None, repr=False)

    def run(self, embeds: torch.Tensor, model: torch.nn.Module | None = None) -> torch.Tensor:
        """One forward pass of the step's model (or of `model`: SMART's teacher, eval mode, no masks).

        With shared dropout the first pass keeps the RNG state it started from and every later pass replays
        it, so each dropout layer (eager, or inductor's, which draws its seeds from the same generators)
        draws the first pass's masks again: the passes differ by their perturbation only, as in Zhu et al.'s
        FreeLB (`dp_masks`). The replay runs inside fork_rng, so the generators are left where the first pass
        left them, as an eager step would: the next step's masks are the same at any radius (perturbation
        noise has a generator of its own, noise_generator), and resumable states, saved between steps, are
        unaffected."""
        self.forwards += 1
        if model is not None or not self.shared_dropout:
            return self.apply(model or self.model, embeds)
        devices = [embeds.device] if embeds.device.type == "cuda" else []
        if self._rng is None:
            self._rng = (torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in devices])
            return self.apply(self.model, embeds)
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            cpu, cuda = self._rng
            torch.set_rng_state(cpu)
            for d, state in zip(devices, cuda):
                torch.cuda.set_rng_state(state, d)
            return self.apply(self.model, embeds)

    def embeds(self) -> torch.Tensor:
        """Fresh input embeddings (a new graph each call, so several backward passes can run). With a
        frozen embedding matrix (LoRA) they still need gradients: perturbations follow them."""
        e = self.model.embed(self.batch["input_ids"])
        return e if e.requires_grad else e.detach().requires_grad_()

    def clean(self) -> torch.Tensor:
        """The clean embeddings, detached (what perturbation sizes are measured against)."""
        if self._clean is None:
            with torch.no_grad():
                self._clean = self.model.embed(self.batch["input_ids"]).detach()
        return self._clean

    @property
    def token_mask(self) -> torch.Tensor:
        """[B, T, 1] float mask of real tokens: perturbations are zero on padding."""
        return self.batch["attention_mask"].unsqueeze(-1).float()

    def real_tokens(self) -> torch.Tensor:
        """[B, 1, 1] real-token count per example."""
        return self.batch["attention_mask"].sum(1).float().view(-1, 1, 1)

    def embedding_s(self) -> float:
        """s of budgets.py: measured once per run by the training loop; else from this batch (tests)."""
        if self.embedding_scale is None:
            self.embedding_scale = measure_embedding_scale(self.model, [self.batch])["token_l2_rms"]
        return self.embedding_scale

    def loss(self, logits: torch.Tensor) -> torch.Tensor:
        return self.fmt.loss(logits, self.batch)

    def distributions(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Categorical rows (and their weights) the KL regularisers compare, per the task's format."""
        return self.fmt.distributions(logits, self.batch)

    def record(self, delta: torch.Tensor) -> None:
        if self.trace is not None:
            self.trace.append(delta.detach().clone())
        if self.monitor:
            r = perturbation_ratios(delta.detach(), self.clean(), self.batch["attention_mask"])
            self.ratios = r if self.ratios is None else torch.maximum(self.ratios, r)


# ---------------------------------------------------------------- helpers

def _expand(norms: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return norms.view(-1, *[1] * (like.dim() - 1))


def l2_norm(x: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm over all token and hidden dimensions, shaped to broadcast against x."""
    return _expand(x.flatten(1).norm(dim=1), x)


def l2_normalize(g: torch.Tensor) -> torch.Tensor:
    return g / l2_norm(g).clamp_min(1e-12)


def linf_normalize(g: torch.Tensor) -> torch.Tensor:
    """g / ||g||_inf per example (SMART's ascent direction)."""
    return g / _expand(g.flatten(1).abs().amax(dim=1), g).clamp_min(1e-30)


def project(delta: torch.Tensor, eps, norm: str) -> torch.Tensor:
    """Onto the eps-ball of each example: L-inf (eps a number) or L2 (a number or a [B, 1, 1] tensor)."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = l2_norm(delta)
    return delta * torch.where(n > eps, eps / n.clamp_min(1e-12), torch.ones_like(n))


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per distribution (rows), averaged with `weights` (0 = padding).

    Written for p close to q, where the textbook sum p * (log p - log q) cancels catastrophically: the
    small perturbations of SMART and R3F move logits by 1e-6..1e-3, below the rounding of log p in fp32.
    Here log p - log q = D - c with D = z_p - z_q and c = lse(z_p) - lse(z_q) = log1p(sum q * expm1(D)),
    so the only rounding left is the logits' own."""
    zp, zq = p_logits.float(), q_logits.float()
    diff = zp - zq
    log_q = F.log_softmax(zq, -1)
    c = torch.log1p((log_q.exp() * torch.expm1(diff)).sum(-1, keepdim=True))
    per_row = (F.softmax(zp, -1) * (diff - c)).sum(-1)
    return (per_row * weights).sum() / weights.sum().clamp_min(1)


def symmetric_kl(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return kl(a, b, weights) + kl(b, a, weights)


# ---------------------------------------------------------------- strategies

class Standard:
    name = "standard"
    relative = False  # sizes relative to the embeddings (`scale: embedding`), see xlt/adversarial/budgets.py
    dropout = "shared"  # or "independent": each pass of a step draws its own dropout masks

    def _set_scale(self, scale: str | None, dropout: str = "shared") -> None:
        if scale not in (None, "absolute", "embedding"):
            raise ValueError(f"{self.name}: scale must be 'absolute' or 'embedding', got {scale!r}")
        if dropout not in ("shared", "independent"):
            raise ValueError(f"{self.name}: dropout must be 'shared' or 'independent', got {dropout!r}")
        self.relative, self.dropout = scale == "embedding", dropout

    def example_size(self, ctx: StepContext, value: float):
        """An example-L2 size: absolute, or value * s * sqrt(L_b) per example (a [B, 1, 1] tensor)."""
        if not self.relative:
            return value
        return value * ctx.embedding_s() * ctx.real_tokens().sqrt()

    def element_size(self, ctx: StepContext, value: float) -> float:
        """An element size (L-inf bound, noise scale): absolute, or value * s / sqrt(d)."""
        if not self.relative:
            return value
        return value * ctx.embedding_s() / math.sqrt(ctx.model.hidden_size)

    def step(self, ctx: StepContext) -> float:
        """Run the step's passes and backward passes (the optimizer step follows in the loop)."""
        ctx.shared_dropout = self.dropout == "shared"
        return self._step(ctx)

    def _step(self, ctx: StepContext) -> float:
        loss = ctx.loss(ctx.run(ctx.embeds()))
        (loss * ctx.scale).backward()
        return loss.item()

    _noise: torch.Generator | None = None

    def noise_stream(self, like: torch.Tensor) -> torch.Generator:
        """This run's noise generator (made on first use, on `like`'s device)."""
        if self._noise is None:
            self._noise = noise_generator(like.device)
        return self._noise

    def uniform(self, like: torch.Tensor) -> torch.Tensor:
        """Uniform(-1, 1) noise shaped like `like`, from the noise stream."""
        return torch.empty_like(like).uniform_(-1, 1, generator=self.noise_stream(like))

    def normal(self, like: torch.Tensor) -> torch.Tensor:
        """N(0, 1) noise shaped like `like`, from the noise stream."""
        return torch.randn(like.shape, generator=self.noise_stream(like), device=like.device, dtype=like.dtype)

    def after_optimizer_step(self, model) -> None:
        pass

    def state_dict(self) -> dict:
        """Resumable state: the noise stream's position (a resumed run draws the noise it would have)."""
        return {"noise": None if self._noise is None else self._noise.get_state()}

    def load_state_dict(self, state: dict, model) -> None:
        if state.get("noise") is not None:
            self._noise = noise_generator(next(model.parameters()).device)
            self._noise.set_state(state["noise"])


class FGM(Standard):
    name = "fgm"

    def __init__(self, epsilon: float = 1.0, scale: str | None = None, dropout: str = "shared"):
        self.epsilon = epsilon
        self._set_scale(scale, dropout)

    def _step(self, ctx: StepContext) -> float:
        embeds = ctx.embeds()
        if not embeds.is_leaf:
            embeds.retain_grad()
        clean = ctx.loss(ctx.run(embeds))
        # one backward gives the parameter gradients and the input gradient (its positive scale drops out
        # in the normalisation): no second backward through a retained graph
        (clean * ctx.scale / 2).backward()
        grad = embeds.grad
        r = self.example_size(ctx, self.epsilon) * l2_normalize(grad.detach() * ctx.token_mask) * ctx.token_mask
        ctx.record(r)
        adv = ctx.loss(ctx.run(ctx.embeds() + r))
        (adv * ctx.scale / 2).backward()
        return (clean.item() + adv.item()) / 2


class PGD(Standard):
    name = "pgd"

    def __init__(self, epsilon: float = 1.0, alpha: float = 0.3, steps: int = 3, norm: str = "l2",
                 random_start: bool = False, include_clean: bool = True, scale: str | None = None,
                 dropout: str = "shared"):
        self.epsilon, self.alpha, self.steps, self.norm = epsilon, alpha, steps, norm
        self.random_start, self.include_clean = random_start, include_clean
        self._set_scale(scale, dropout)

    def _sizes(self, ctx):
        size = self.element_size if self.norm == "linf" else self.example_size
        return size(ctx, self.epsilon), size(ctx, self.alpha)

    def _ascend(self, delta, grad, mask, eps, alpha):
        step = torch.sign(grad) if self.norm == "linf" else l2_normalize(grad * mask)
        return project(delta + alpha * step * mask, eps, self.norm) * mask

    def _step(self, ctx: StepContext) -> float:
        mask = ctx.token_mask
        eps, alpha = self._sizes(ctx)
        embeds = ctx.embeds()
        delta = torch.zeros_like(embeds)
        if self.random_start:  # uniform in the L-inf box (Madry et al.), or projected onto the L2 sphere; real tokens
            # only, masked before the projection: the L2 norm on real tokens is then eps, not eps * sqrt(L / T)
            delta = project(self.uniform(embeds) * eps * mask, eps, self.norm)
        clean_value, first_grad = None, None
        if self.include_clean:
            if not embeds.is_leaf:
                embeds.retain_grad()
            clean = ctx.loss(ctx.run(embeds))
            (clean * ctx.scale / 2).backward()
            if not self.random_start and self.steps > 0:  # the clean gradient is the first ascent direction
                first_grad = embeds.grad  # (scaled: the ascent normalises it)
            clean_value = clean.item()
        for k in range(self.steps):
            if k == 0 and first_grad is not None:
                grad = first_grad
            else:
                d = delta.detach().requires_grad_()
                grad, = torch.autograd.grad(ctx.loss(ctx.run(ctx.embeds().detach() + d)), d)
            delta = self._ascend(delta.detach(), grad.detach(), mask, eps, alpha)
            ctx.record(delta)
        adv = ctx.loss(ctx.run(ctx.embeds() + delta.detach()))
        weight = 0.5 if self.include_clean else 1.0
        (adv * ctx.scale * weight).backward()
        return adv.item() if clean_value is None else (clean_value + adv.item()) / 2


class FreeLB(Standard):
    name = "freelb"

    def __init__(self, adv_lr: float = 0.1, steps: int = 2, init_mag: float = 0.1, max_norm: float = 0.3,
                 scale: str | None = None, dropout: str = "shared"):
        self.adv_lr, self.steps, self.init_mag, self.max_norm = adv_lr, steps, init_mag, max_norm
        self._set_scale(scale, dropout)

    def init_delta(self, ctx: StepContext, like: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Uniform(-1, 1) on real tokens, scaled by init_mag / sqrt(L * d) with L = real tokens (L2)."""
        dims = _expand(mask.flatten(1).sum(1) * like.shape[-1], like)
        delta = self.uniform(like) * mask
        return delta * self.example_size(ctx, self.init_mag) / dims.sqrt()

    def _step(self, ctx: StepContext) -> float:
        mask = ctx.token_mask
        adv_lr = self.example_size(ctx, self.adv_lr)
        max_norm = self.example_size(ctx, self.max_norm) if self.max_norm > 0 else None  # 0: unbounded
        delta = self.init_delta(ctx, ctx.embeds().detach(), mask)
        total = 0.0
        for k in range(self.steps):  # K passes, K - 1 ascent updates (run_glue_freelb.py's adv_steps)
            delta.requires_grad_()
            ctx.record(delta)
            loss = ctx.loss(ctx.run(ctx.embeds() + delta)) / self.steps
            (loss * ctx.scale).backward()  # parameter gradients accumulate over the K steps
            total += loss.item()
            if k == self.steps - 1:
                break
            grad = delta.grad.detach()
            delta = delta.detach() + adv_lr * l2_normalize(grad * mask) * mask
            delta = project(delta, max_norm, "l2") if max_norm is not None else delta
        return total


class SMART(Standard):
    """Smoothness-inducing adversarial regularisation as in Jiang et al. 2020, Algorithm 1 (not mt-dnn's
    variants, which skip the projection and normalise per token): the perturbation never leaves the
    element ball ||delta||_inf <= epsilon, in any forward pass."""

    name = "smart"

    def __init__(self, epsilon: float = 1e-5, noise_std: float = 1e-5, step_size: float = 1e-3, steps: int = 1,
                 lambda_s: float = 1.0, bregman: dict | None = None, scale: str | None = None,
                 ascent_objective: str = "symmetric", dropout: str = "shared"):
        if ascent_objective not in ("symmetric", "kl"):
            raise ValueError(f"smart: ascent_objective must be 'symmetric' or 'kl', got {ascent_objective!r}")
        self.epsilon, self.noise_std, self.step_size = epsilon, noise_std, step_size
        self.steps, self.lambda_s, self.ascent_objective = steps, lambda_s, ascent_objective
        self.bregman = bregman  # {mu, beta}: proximal term against a momentum (EMA) teacher
        self.teacher = None
        self._set_scale(scale, dropout)

    def ascent_loss(self, adv_logits, clean_logits, weights):
        """What the ascent climbs, the clean side detached (the ascent moves the noise only): Algorithm 1's
        symmetric l_s (`symmetric`), or mt-dnn's one-sided KL(adv || clean) (`kl`)."""
        clean = clean_logits.detach()
        if self.ascent_objective == "kl":
            return kl(adv_logits, clean, weights)
        return symmetric_kl(adv_logits, clean, weights)

    def _step(self, ctx: StepContext) -> float:
        mask = ctx.token_mask
        eps, sigma, eta = (self.element_size(ctx, v) for v in (self.epsilon, self.noise_std, self.step_size))
        embeds = ctx.embeds()
        logits = ctx.run(embeds)
        ce = ctx.loss(logits)
        clean_d, weights = ctx.distributions(logits)
        # the initial noise is clipped into the ball too (Algorithm 1 projects only after ascent steps): so
        # every forward pass, ascent included, sees a perturbation within epsilon
        delta = (self.normal(embeds) * sigma).clamp(-eps, eps) * mask
        ctx.record(delta)
        for _ in range(self.steps):
            delta = delta.detach().requires_grad_()
            adv_d, _ = ctx.distributions(ctx.run(embeds.detach() + delta))
            grad, = torch.autograd.grad(self.ascent_loss(adv_d, clean_d, weights), delta)
            # g / ||g||_inf per example: the batch-mean objective's 1/B (and any scale) drops out
            delta = (delta.detach() + eta * linf_normalize(grad.detach() * mask)).clamp(-eps, eps) * mask
            ctx.record(delta)
        adv_d, _ = ctx.distributions(ctx.run(embeds + delta.detach()))
        reg = symmetric_kl(adv_d, clean_d, weights)
        ctx.regulariser = reg.detach()
        loss = ce + self.lambda_s * reg
        if self.bregman:
            teacher = self._teacher(ctx.model)
            with torch.no_grad():
                t_d, _ = ctx.distributions(ctx.run(teacher.embed(ctx.batch["input_ids"]), model=teacher))
            loss = loss + self.bregman["mu"] * symmetric_kl(clean_d, t_d, weights)
        (loss * ctx.scale).backward()
        return loss.item()

    def _teacher(self, model):
        if self.teacher is None:
            self.teacher = copy.deepcopy(model).eval().requires_grad_(False)
        return self.teacher

    def state_dict(self) -> dict:
        return {**super().state_dict(), "teacher": self.teacher.state_dict() if self.teacher is not None else None}

    def load_state_dict(self, state: dict, model) -> None:
        super().load_state_dict(state, model)
        if state.get("teacher") is not None:
            self._teacher(model).load_state_dict(state["teacher"])

    def after_optimizer_step(self, model) -> None:
        """Momentum teacher: theta~ <- beta * theta~ + (1 - beta) * theta."""
        if self.bregman and self.teacher is not None:
            with torch.no_grad():
                for t, p in zip(self.teacher.parameters(), model.parameters()):
                    t.mul_(self.bregman["beta"]).add_(p.detach(), alpha=1 - self.bregman["beta"])


class R3F(Standard):
    name = "r3f"

    def __init__(self, epsilon: float = 1e-5, noise: str = "uniform", lambda_: float = 1.0,
                 scale: str | None = None, detach_noise_embeddings: bool = True, dropout: str = "shared"):
        self.epsilon, self.noise, self.lambda_ = epsilon, noise, lambda_
        self.detach_noise_embeddings = detach_noise_embeddings
        self._set_scale(scale, dropout)

    def _step(self, ctx: StepContext) -> float:
        mask = ctx.token_mask
        eps = self.element_size(ctx, self.epsilon)
        embeds = ctx.embeds()
        logits = ctx.run(embeds)
        if self.noise == "normal":
            z = self.normal(embeds) * eps
        else:
            z = self.uniform(embeds) * eps
        z = z * mask
        ctx.record(z)
        # fairseq's criterion perturbs `token_embeddings.detach().clone()`: the word embeddings get no gradient
        # through the noisy branch (`detach_noise_embeddings: false` keeps it). A fresh leaf that requires
        # grad, not a bare detach: the noisy pass then has the clean pass's signature and reuses its compiled
        # graph (a bare detach compiled a second graph per length bucket); the leaf's gradient is dropped.
        noisy_embeds = embeds.detach().requires_grad_() if self.detach_noise_embeddings else ctx.embeds()
        noisy = ctx.run(noisy_embeds + z)
        clean_d, weights = ctx.distributions(logits)
        noisy_d, _ = ctx.distributions(noisy)
        reg = symmetric_kl(clean_d, noisy_d, weights)
        ctx.regulariser = reg.detach()
        loss = ctx.loss(logits) + self.lambda_ * reg
        (loss * ctx.scale).backward()
        return loss.item()


METHODS = {cls.name: cls for cls in (Standard, FGM, PGD, FreeLB, SMART, R3F)}


def expected_cost(block: dict) -> float:
    """Forward(+backward) passes per step relative to standard training; the benchmark compares
    measured step times with these."""
    method = block.get("method", "standard")
    k = block.get("steps")
    if method == "pgd":
        k = 3 if k is None else k
        # the clean pass doubles as the first ascent step unless the start is random
        return k + 1 + (1 if block.get("include_clean", True) and block.get("random_start") else 0)
    if method == "freelb":
        return float(2 if k is None else k)
    if method == "smart":  # clean + k ascent + adversarial (+ teacher forward, no backward)
        return (1 if k is None else k) + 2 + (0.5 if block.get("bregman") else 0)
    return {"fgm": 2.0, "r3f": 2.0}.get(method, 1.0)


def make_strategy(block: dict | None) -> Standard:
    """A resolved variant block from config (`{method: fgm, epsilon: 0.05, scale: embedding}`) -> a
    strategy. A `budget: calibrated` block must first get its radius (budgets.with_radius)."""
    block = dict(block or {})
    method = block.pop("method", "standard")
    if method not in METHODS:
        raise ValueError(f"unknown adversarial method {method!r}; known: {', '.join(METHODS)}")
    if block.pop("budget", "fixed") == "calibrated":
        raise ValueError(f"this {method} block says budget: calibrated, but no calibrated budget was applied; "
                         "its training job needs results/calibration/<model>/<variant>.json (study.calibration)")
    if method == "r3f" and "lambda" in block:
        block["lambda_"] = block.pop("lambda")
    return METHODS[method](**block)
