"""Each adversarial method's step against a transcription of its authors' (or a widely used) reference step,
on a tiny model whose dropout masks can be passed explicitly — as Zhu et al.'s models take `dp_masks` — so
that a transcription that *reuses* masks can be compared with the project's `dropout: shared`, which
*replays* the RNG state (xlt/adversarial/methods.py StepContext.run).

References (read, not copied; commits as fetched):
  FGM     Miyato et al.'s adversarial_text, tensorflow/models@6ddfb3f98105f32d4154efddc01f930ab1017491,
          research/adversarial_text/adversarial_losses.py (adversarial_loss, _scale_l2)
  PGD     L-inf: Madry et al., MadryLab/mnist_challenge@6f91f83844fd89f750dd0a305cde67af7c7ab8f5, pgd_attack.py
          (LinfPGDAttack.perturb); L2 on embeddings: Zhu et al.'s "VanillaPGD" baseline,
          zhuchen03/FreeLB@eb2370161037f3b03c5ab1262fb455dc7da4d361,
          fairseq-RoBERTa/fairseq/tasks/sentence_prediction.py (std_adv_train_step)
  FreeLB  zhuchen03/FreeLB@eb2370161037f3b03c5ab1262fb455dc7da4d361,
          huggingface-transformers/examples/run_glue_freelb.py (the training loop's adversarial block)
  SMART   namisan/mt-dnn@3228e7c2f2495fdf1e7f53e7a3809980cf2c9110, mt_dnn/perturbation.py
          (SmartPerturbation.forward) for the step's structure; the update follows Jiang et al. 2020's
          Algorithm 1 (projection onto the L-inf ball), where the project follows the paper, not mt-dnn
  R3F     facebookresearch/fairseq@a4356b1da2b19ebd2e1be5c12ff882026ea4d7d2,
          examples/rxf/rxf_src/sentence_prediction_r3f.py (SentencePredictionR3F.forward)
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xlt.adversarial.methods import FGM, PGD, R3F, SMART, FreeLB, StepContext, noise_generator, symmetric_kl
from xlt.model.formats import get_format

P = 0.3  # dropout probability: large, so a mask mismatch could not hide in the tolerances


class MaskedDropoutModel(nn.Module):
    """embeddings -> tanh MLP -> dropout -> masked mean pool -> dropout -> 3-way logits. `forward` draws
    its dropout masks from the global RNG (what the project's steps see); `with_masks` takes and returns
    them (what Zhu et al.'s models do with `dp_masks`)."""

    hidden_size = 16

    def __init__(self, vocab=50):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab, self.hidden_size)
        self.mlp = nn.Linear(self.hidden_size, self.hidden_size)
        self.out = nn.Linear(self.hidden_size, 3)

    def embed(self, ids):
        return self.emb(ids)

    def with_masks(self, inputs_embeds, attention_mask, masks=None):
        h = torch.tanh(self.mlp(inputs_embeds))
        if self.training and masks is None:
            masks = [torch.bernoulli(torch.full_like(h, 1 - P)) / (1 - P), None]
        if self.training:
            h = h * masks[0]
        m = attention_mask.unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1)
        if self.training and masks[1] is None:
            masks[1] = torch.bernoulli(torch.full_like(pooled, 1 - P)) / (1 - P)
        if self.training:
            pooled = pooled * masks[1]
        return self.out(pooled), masks

    def forward(self, inputs_embeds, attention_mask, task=None):
        return self.with_masks(inputs_embeds, attention_mask)[0]


FMT = get_format("classification")


def _batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (4, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 5:] = 0
    mask[2, 3:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 2, 1, 0])}


def _project_step(strategy, model, batch, seed=0):
    """The project's step: parameter gradients after it, and the context."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    ctx = StepContext(model=model, batch=batch, task="t", fmt=FMT, scale=1.0, trace=[],
                      apply=lambda m, e: m(inputs_embeds=e, attention_mask=batch["attention_mask"], task="t"))
    strategy.step(ctx)
    return {n: p.grad.clone() for n, p in model.named_parameters()}, ctx


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def _assert_same(got, want, scale=1.0):
    for name in want:
        torch.testing.assert_close(got[name] * scale, want[name], rtol=1e-4, atol=1e-6, msg=name)


def test_fgm_matches_miyato_adversarial_text():
    """adversarial_loss: grad of the clean loss w.r.t. the embeddings (stop_gradient), _scale_l2 over each
    example's (time, dim), loss = clean + adv_reg_coeff * adv. The project averages (clean + adv) / 2, so its
    gradients are half of the reference's (the same objective at half the learning rate; documented)."""
    model, batch, eps = MaskedDropoutModel().eval(), _batch(), 0.5
    got, _ = _project_step(FGM(epsilon=eps), model, batch)

    model.zero_grad(set_to_none=True)
    mask = batch["attention_mask"]
    embedded = model.embed(batch["input_ids"])
    clean = FMT.loss(model(embedded, mask), batch)
    grad, = torch.autograd.grad(clean, embedded, retain_graph=True)
    grad = grad.detach()
    alpha = grad.abs().amax((1, 2), keepdim=True) + 1e-12  # _scale_l2, its stabilised L2 norm included
    l2 = alpha * torch.sqrt((grad / alpha).pow(2).sum((1, 2), keepdim=True) + 1e-6)
    adv = FMT.loss(model(embedded + eps * grad / l2, mask), batch)
    (clean + 1.0 * adv).backward()
    _assert_same(got, _grads(model), scale=2.0)


def test_pgd_linf_matches_madry_pgd_attack():
    """LinfPGDAttack.perturb: x = x_nat + U(-eps, eps); k times x += a * sign(grad); clip to the eps-box (the
    [0, 1] pixel clip has no counterpart for embeddings); Madry et al. train on the adversarial loss only
    (include_clean: false). No dropout in their model: eval mode."""
    model, batch = MaskedDropoutModel().eval(), _batch()
    eps, a, k = 0.05, 0.02, 3
    got, _ = _project_step(PGD(epsilon=eps, alpha=a, steps=k, norm="linf", random_start=True, include_clean=False),
                           model, batch)

    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    mask = batch["attention_mask"]
    real = mask.unsqueeze(-1).float()
    x_nat = model.embed(batch["input_ids"])
    # the project draws noise from a stream of its own (methods.noise_generator), the masks from the global one
    noise = torch.empty_like(x_nat).uniform_(-1, 1, generator=noise_generator("cpu"))
    x = x_nat.detach() + noise * eps * real  # pads stay unperturbed
    for _ in range(k):
        x = x.detach().requires_grad_()
        grad, = torch.autograd.grad(FMT.loss(model(x, mask), batch), x)
        x = x.detach() + a * torch.sign(grad) * real
        x = torch.minimum(torch.maximum(x, x_nat.detach() - eps), x_nat.detach() + eps)
    FMT.loss(model(x_nat + (x - x_nat).detach(), mask), batch).backward()
    _assert_same(got, _grads(model))


def _l2_ascent(delta, grad, adv_lr, max_norm):
    """Zhu et al.'s per-example L2 ascent and projection (run_glue_freelb.py / std_adv_train_step)."""
    denorm = torch.clamp(torch.norm(grad.view(grad.size(0), -1), dim=1).view(-1, 1, 1), min=1e-8)
    delta = (delta + adv_lr * grad / denorm).detach()
    if max_norm > 0:
        delta_norm = torch.norm(delta.view(delta.size(0), -1).float(), p=2, dim=1).detach()
        exceed = (delta_norm > max_norm).to(delta)
        delta = (delta * (max_norm / delta_norm * exceed + (1 - exceed)).view(-1, 1, 1)).detach()
    return delta


def test_pgd_l2_matches_zhu_et_al_vanilla_pgd_in_train_mode_with_shared_masks():
    """std_adv_train_step (their PGD baseline): delta from 0 (rand_init_mag 0), adv_steps ascent updates,
    the first pass draws the dropout masks (init_dp=True) and every later pass reuses them
    (init_dp=no_sync_dp=False); only the last pass's loss is backpropagated (include_clean: false).
    Their code draws the uniform start even at magnitude 0; that only moves the RNG stream, so it is
    skipped here as in their FreeLB code (`if adv_init_mag > 0`)."""
    model, batch = MaskedDropoutModel().train(), _batch()
    adv_lr, max_norm, steps = 0.2, 0.3, 2
    got, ctx = _project_step(PGD(epsilon=max_norm, alpha=adv_lr, steps=steps, norm="l2", include_clean=False,
                                 dropout="shared"), model, batch)
    assert ctx.forwards == steps + 1

    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    mask = batch["attention_mask"]
    embeds_init = model.embed(batch["input_ids"])
    delta = torch.zeros_like(embeds_init).requires_grad_()
    logits, dp_masks = model.with_masks(delta + embeds_init, mask)  # init_dp=True: draw the masks
    loss = FMT.loss(logits, batch)
    for _ in range(steps):
        grad = torch.autograd.grad(loss, delta)[0].detach()
        delta = _l2_ascent(delta, grad, adv_lr, max_norm).requires_grad_()
        logits, _ = model.with_masks(delta + model.embed(batch["input_ids"]), mask, dp_masks)  # reuse them
        loss = FMT.loss(logits, batch)
    loss.backward()
    _assert_same(got, _grads(model))


def _freelb_reference(model, batch, adv_lr, init_mag, max_norm, adv_steps, share_masks=True):
    """The adversarial block of run_glue_freelb.py's training loop, one batch (no fp16/grad accumulation)."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    embeds_init = model.embed(batch["input_ids"])
    input_mask = batch["attention_mask"].to(embeds_init)
    input_lengths = torch.sum(input_mask, 1)
    g = noise_generator("cpu")  # the project's noise stream (the masks keep the global one)
    delta = torch.zeros_like(embeds_init).uniform_(-1, 1, generator=g) * input_mask.unsqueeze(2)
    dims = input_lengths * embeds_init.size(-1)
    mag = init_mag / torch.sqrt(dims)
    delta = (delta * mag.view(-1, 1, 1)).detach()
    dp_masks = None
    for astep in range(adv_steps):
        delta.requires_grad_()
        logits, masks = model.with_masks(delta + embeds_init, batch["attention_mask"], dp_masks)
        dp_masks = masks if share_masks else None
        loss = FMT.loss(logits, batch) / adv_steps
        loss.backward()
        if astep == adv_steps - 1:
            break
        delta = _l2_ascent(delta, delta.grad.clone().detach(), adv_lr, max_norm)
        embeds_init = model.embed(batch["input_ids"])
    return _grads(model)


@pytest.mark.parametrize("adv_steps", [2, 3])
def test_freelb_train_mode_gradient_matches_run_glue_freelb_with_shared_masks(adv_steps):
    """K = adv_steps forward passes, K - 1 ascent updates, grad(loss / K) accumulated, masks of the first
    pass reused (dp_masks). `dropout: independent` is measurably off that reference (printed)."""
    model, batch = MaskedDropoutModel().train(), _batch()
    kw = dict(adv_lr=0.1, init_mag=0.1, max_norm=0.3)
    want = _freelb_reference(model, batch, adv_steps=adv_steps, **kw)
    got, ctx = _project_step(FreeLB(steps=adv_steps, dropout="shared", **kw), model, batch)
    assert ctx.forwards == adv_steps
    _assert_same(got, want)
    # today's former behaviour (new masks per pass) is not the reference: the accumulated gradient differs
    independent, _ = _project_step(FreeLB(steps=adv_steps, dropout="independent", **kw), model, batch)
    off = (sum((independent[n] - want[n]).pow(2).sum() for n in want).sqrt()
           / sum(want[n].pow(2).sum() for n in want).sqrt())
    print(f"\nFreeLB K={adv_steps}: independent masks vs the mask-sharing reference: {float(off):.1%} of the gradient")
    assert off > 0.01


def test_smart_matches_algorithm_1_in_mt_dnns_structure():
    """mt-dnn's SmartPerturbation.forward: noise = N(0, 1) * noise_var drawn after the clean pass, K ascent
    passes on a KL against the detached clean logits, a final adversarial pass; its passes draw their own
    dropout masks (dropout: independent reproduces that RNG order exactly). The update and the loss follow
    Algorithm 1, as the project does (mt-dnn instead normalises noise + eta * g per token by its L-inf norm and
    detaches each KL's target): delta <- Proj_{||.||_inf <= eps}(delta + eta * g / ||g||_inf) per example,
    loss = CE + lambda_s * l_s with gradients through both sides. sigma << eps here so the project's clip of
    the initial noise (a documented deviation) is a no-op."""
    model, batch = MaskedDropoutModel().train(), _batch()
    eps, sigma, eta, steps, lam = 0.05, 0.002, 0.01, 2, 1.0
    for objective in ("symmetric", "kl"):
        got, ctx = _project_step(SMART(epsilon=eps, noise_std=sigma, step_size=eta, steps=steps, lambda_s=lam,
                                       ascent_objective=objective, dropout="independent"), model, batch)
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)
        mask, real = batch["attention_mask"], batch["attention_mask"].unsqueeze(-1).float()
        embed = model.embed(batch["input_ids"])
        logits = model(embed, mask)
        noise = torch.randn(embed.shape, generator=noise_generator("cpu")) * sigma * real  # the project's noise stream
        assert float(noise.abs().max()) < eps  # the clip does nothing
        for _ in range(steps):
            noise = noise.detach().requires_grad_()
            adv_logits = model(embed.detach() + noise, mask)
            target = logits.detach()
            if objective == "kl":  # mt-dnn: KL(adv || clean) (stable_kl's form aside)
                adv_loss = F.kl_div(F.log_softmax(target, -1), F.softmax(adv_logits, -1), reduction="batchmean")
            else:  # Algorithm 1: the symmetric l_s
                adv_loss = (F.kl_div(F.log_softmax(target, -1), F.softmax(adv_logits, -1), reduction="batchmean")
                            + F.kl_div(F.log_softmax(adv_logits, -1), F.softmax(target, -1), reduction="batchmean"))
            delta_grad, = torch.autograd.grad(adv_loss, noise)
            g_inf = delta_grad.abs().amax((1, 2), keepdim=True)
            noise = (noise.detach() + eta * delta_grad / g_inf).clamp(-eps, eps) * real
        adv_logits = model(embed + noise.detach(), mask)
        ls = (F.kl_div(F.log_softmax(adv_logits, -1), F.softmax(logits, -1), reduction="batchmean")
              + F.kl_div(F.log_softmax(logits, -1), F.softmax(adv_logits, -1), reduction="batchmean"))
        (FMT.loss(logits, batch) + lam * ls).backward()
        _assert_same(got, _grads(model))
        torch.testing.assert_close(ctx.trace[-1], noise.detach(), rtol=1e-4, atol=1e-6)  # eps = 0.05


@pytest.mark.parametrize("detach", [True, False])
def test_r3f_matches_fairseq_rxf_criterion(detach):
    """SentencePredictionR3F.forward: clean pass, noise from Uniform(-eps, eps) over the embeddings' shape,
    a noisy pass on `token_embeddings.detach().clone() + noise`, loss = sum NLL + lambda * B * mean symmetric
    KL, divided by sample_size = B (fairseq's gradient normalisation). Its two passes draw their own dropout
    masks: `dropout: independent` reproduces them. `detach_noise_embeddings: false` (the project's former
    behaviour) is the same with the gradient through the noisy branch's embeddings kept."""
    model, batch = MaskedDropoutModel().train(), _batch()
    eps, lam = 0.05, 1.0
    got, _ = _project_step(R3F(epsilon=eps, lambda_=lam, detach_noise_embeddings=detach, dropout="independent"),
                           model, batch)

    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    mask = batch["attention_mask"]
    token_embeddings = model.embed(batch["input_ids"])
    input_logits = model(token_embeddings, mask)
    # Uniform(-eps, eps) as fairseq's, drawn from the project's noise stream (methods.noise_generator)
    noise = torch.empty(token_embeddings.shape).uniform_(-1, 1, generator=noise_generator("cpu")) * eps
    noise = noise * mask.unsqueeze(-1)  # the project spares padding; here pads do not reach the logits anyway
    base = token_embeddings.detach().clone() if detach else model.embed(batch["input_ids"])
    noised_logits = model(base + noise, mask)
    symm_kl = (F.kl_div(F.log_softmax(noised_logits, -1, dtype=torch.float32),
                        F.softmax(input_logits, -1, dtype=torch.float32), None, None, "sum")
               + F.kl_div(F.log_softmax(input_logits, -1, dtype=torch.float32),
                          F.softmax(noised_logits, -1, dtype=torch.float32), None, None, "sum")) / noised_logits.size(0)
    sample_size = batch["labels"].numel()
    loss = F.nll_loss(F.log_softmax(input_logits, -1, dtype=torch.float32), batch["labels"], reduction="sum")
    loss = loss + lam * symm_kl * sample_size
    (loss / sample_size).backward()
    _assert_same(got, _grads(model))
    if detach:  # fairseq's detach: the noisy branch adds nothing to the word-embedding gradient
        kept, _ = _project_step(R3F(epsilon=eps, lambda_=lam, detach_noise_embeddings=False, dropout="independent"),
                                model, batch)
        assert not torch.equal(kept["emb.weight"], got["emb.weight"])
        torch.testing.assert_close(kept["mlp.weight"], got["mlp.weight"])


def test_shared_dropout_replays_the_first_passs_masks_and_leaves_the_noise_stream_alone():
    """Shared: two passes on the same input give identical logits; the noise drawn between them is the
    same number stream as without sharing (the replay runs in fork_rng), so the next step's draws agree."""
    model, batch = MaskedDropoutModel().train(), _batch()
    e = model.embed(batch["input_ids"]).detach()
    after = {}
    for shared in (True, False):
        torch.manual_seed(0)
        ctx = StepContext(model=model, batch=batch, task="t", fmt=FMT, scale=1.0, shared_dropout=shared,
                          apply=lambda m, x: m(inputs_embeds=x, attention_mask=batch["attention_mask"]))
        a = ctx.run(e)
        noise = torch.randn(3)
        b = ctx.run(e)
        assert torch.equal(a, b) == shared
        after[shared] = (noise, torch.randn(3))
    torch.testing.assert_close(after[True][0], after[False][0], rtol=0, atol=0)
    # the step's end state differs from independent's only by the masks the later passes did not draw
    assert not torch.equal(after[True][1], after[False][1])
    assert symmetric_kl(a, a, torch.ones(4)) == 0
