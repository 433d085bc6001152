"""Perturbation budgets: sizes measured against the embeddings, SMART's ball, ascent directions,
calibrated radii, the logged ratios and the budget table of docs/methods.md (issue 10)."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from xlt.workflow import calibration
from xlt.adversarial.methods import FGM, StepContext, kl, make_strategy
from xlt.bench.adversarial import SCALE_BODIES, budget_points, budget_rows, budget_table
from xlt.adversarial.budgets import measure_embedding_scale, perturbation_ratios, with_radius
from xlt.workflow.config import ConfigError
from xlt.workflow.validate import validate_config
from xlt.model.formats import get_format
from xlt.model.modeling import build_model, head_spec
from xlt.steps import data, train

ROOT = Path(__file__).resolve().parents[1]
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())
FORMATS = {"classification": ("paws_x", {"max_length": 48}),
           "span_qa": ("squad", {"max_length": 64, "doc_stride": 16, "max_query_length": 16}),
           "multiple_choice": ("hellaswag", {"max_length": 32}),
           "tagging": ("ccg", {"max_length": 48})}


@pytest.fixture(scope="module")
def features(fixtures_dir, tiny_model_dir, tmp_path_factory):
    """Featurised training data per format and the head spec it needs."""
    out, tmp = {}, tmp_path_factory.mktemp("budget")
    for fmt, (task, fcfg) in FORMATS.items():
        path = tmp / f"{task}.parquet"
        data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), fcfg, str(path))
        feats = pd.read_parquet(path)
        n = len(feats.attrs["labels"]) if fmt == "tagging" else (2 if fmt == "classification" else 0)
        out[fmt] = (feats, head_spec(fmt, n))
    return out


@pytest.fixture(scope="module")
def models(features, tiny_model_dir):
    return {fmt: build_model(tiny_model_dir, {"t": spec}, seed=0).eval() for fmt, (_, spec) in features.items()}


def _ctx(model, batch, fmt, trace=None):
    return StepContext(model=model, batch=batch, task="t", fmt=get_format(fmt), scale=1.0, trace=trace,
                       apply=lambda m, e: m(inputs_embeds=e, attention_mask=batch["attention_mask"], task="t"))


def _batch(features, fmt, pad_id, seed, size=6):
    feats, _ = features[fmt]
    rows = feats.sample(n=size, random_state=seed)
    return get_format(fmt).collate(rows, pad_id)


def _study_blocks(method):
    """The study's block for `method` at every nonzero radius of its calibration grid (radius 0, the
    control, perturbs nothing: it has no direction or ball to test)."""
    from xlt.adversarial.budgets import RADIUS

    return [(label, block) for name, block, label in budget_points(STUDY)
            if block["method"] == method and block[RADIUS[method]] > 0]


def test_relative_fgm_perturbation_is_that_fraction_of_each_examples_embedding_norm(features, models, tokenizer):
    batch = _batch(features, "classification", tokenizer.pad_token_id, 0)
    ctx = _ctx(models["classification"], batch, "classification", trace=[])
    ctx.monitor = True
    FGM(epsilon=0.05, scale="embedding").step(ctx)
    (delta,) = ctx.trace
    ratios = perturbation_ratios(delta, ctx.clean(), batch["attention_mask"])
    # ||delta_b|| = 0.05 * s * sqrt(L_b) and ||e_b|| ~ s * sqrt(L_b): the per-example ratio is ~0.05
    assert 0.04 < float(ratios[3]) < 0.06 and 0.04 < float(ratios[2]) < 0.07
    torch.testing.assert_close(ctx.ratios, ratios)
    # absolute: the same epsilon is a fixed L2 norm per example, whatever the embeddings' size
    ctx = _ctx(models["classification"], batch, "classification", trace=[])
    FGM(epsilon=0.05).step(ctx)
    norms = ctx.trace[0].flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, 0.05))


@pytest.mark.parametrize("fmt", FORMATS)
def test_smart_never_leaves_its_linf_ball_on_random_batches(fmt, features, models, tokenizer):
    """Property test: random batches (left and right padding, random lengths), the study's SMART block at
    every grid radius and the absolute paper defaults; every perturbation of every pass stays within epsilon."""
    model = models[fmt]
    g = torch.Generator().manual_seed(0)
    blocks = [block for _, block in _study_blocks("smart")] + [{"method": "smart"},
                                                               {"method": "smart", "steps": 3, "epsilon": 1e-3}]
    for seed in range(6):
        rows = features[fmt][0].sample(n=6, random_state=seed)
        left = seed % 2 == 1 and fmt in ("classification", "multiple_choice")  # formats that allow left padding
        batch = get_format(fmt).collate(rows, tokenizer.pad_token_id, **({"padding_side": "left"} if left else {}))
        if seed % 3 == 0:  # random token ids: any embedding rows, same shape and mask
            batch["input_ids"] = torch.randint(5, len(tokenizer), batch["input_ids"].shape, generator=g)
        for block in blocks:
            strategy = make_strategy(block)
            torch.manual_seed(seed)
            ctx = _ctx(model, batch, fmt, trace=[])
            model.zero_grad(set_to_none=True)
            strategy.step(ctx)
            eps = strategy.element_size(ctx, strategy.epsilon)
            pad = (1 - batch["attention_mask"]).unsqueeze(-1).bool()
            assert len(ctx.trace) == strategy.steps + 1
            for delta in ctx.trace:
                assert float(delta.abs().max()) <= eps * (1 + 1e-6), (block, float(delta.abs().max()), eps)
                assert (delta.masked_select(pad) == 0).all()


def _objective(method, ctx, delta, clean_logits=None):
    with torch.no_grad():
        logits = ctx.run(ctx.clean() + delta)
        if method == "smart":  # SMART ascends the study block's ascent objective (symmetric l_s)
            adv_d, w = ctx.distributions(logits)
            clean_d, _ = ctx.distributions(clean_logits)
            return float(make_strategy({"method": "smart", "ascent_objective": STUDY["variants"]["smart"][
                "ascent_objective"]}).ascent_loss(adv_d, clean_d, w))
        return float(ctx.loss(logits))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("method", ["fgm", "pgd", "freelb", "smart"])
def test_each_ascent_step_increases_its_own_objective_with_the_study_budgets(method, fmt, features, models, tokenizer):
    """At every radius of the study's grid, each ascent raises its own objective above its starting point
    and above a control of the same size. FGM/PGD/FreeLB (task loss, first order): the mirrored step
    (start - step) — the ascent has the right sign. SMART (KL, even in delta near 0, so +/- a direction
    score alike): a random direction with the same per-example norm — the ascent found a sensitive
    direction, not merely a large perturbation."""
    model = models[fmt]
    batch = _batch(features, fmt, tokenizer.pad_token_id, 1)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    for label, block in _study_blocks(method):
        strategy = make_strategy(block)
        torch.manual_seed(0)
        ctx = _ctx(model, batch, fmt, trace=[])
        model.zero_grad(set_to_none=True)
        strategy.step(ctx)
        with torch.no_grad():
            clean_logits = ctx.run(ctx.clean())
        start = torch.zeros_like(ctx.clean()) if method in ("fgm", "pgd") else ctx.trace[0]
        end = ctx.trace[1] if method == "freelb" else ctx.trace[-1]  # FreeLB: the step its 2nd pass used
        if method == "smart":  # the best of 4 random sign directions
            g = torch.Generator().manual_seed(1)
            signs = [torch.randn(end.shape, generator=g).sign() * mask for _ in range(4)]
            controls = [s * (end.flatten(1).norm(dim=1) / s.flatten(1).norm(dim=1)).view(-1, 1, 1) for s in signs]
        else:
            controls = [2 * start - end]
        before, after = _objective(method, ctx, start, clean_logits), _objective(method, ctx, end, clean_logits)
        other = max(_objective(method, ctx, c, clean_logits) for c in controls)
        assert after > before and after > other, (label, before, after, other)


@pytest.fixture(scope="module")
def study_budget_rows():
    """`python -m xlt.bench.adversarial --scale`'s measurement of the study's budgets (a minute on 2 cores):
    measured once for the tests below."""
    return budget_rows(STUDY)


def test_study_grids_stay_within_the_bar_up_to_their_top_which_goes_beyond_it(study_budget_rows):
    """Issue 10's bar, on hidden 1024 / std 0.02: per-example ratio <= 0.5 and median per-token ratio
    <= 0.1 — at every grid radius below each grid's top. Issue 18: the top goes beyond it, so every grid
    reaches a size that is large against the embeddings (meant to hurt English dev; the calibration
    measures whether it does); radius 0, the control, perturbs nothing."""
    assert SCALE_BODIES["bloom-shaped"] == dict(vocab_size=32000, hidden_size=1024, n_layer=2, n_head=16)
    rows = [r for r in study_budget_rows if r["body"] == "bloom-shaped"]
    assert {r["method"] for r in rows} == {"fgm", "pgd", "freelb", "smart", "r3f"}

    def within(r):
        return r["example_max"] <= 0.5 and r["token_median"] <= 0.1

    for variant in dict.fromkeys(r["variant"] for r in rows):
        control, *grid, top = [r for r in rows if r["variant"] == variant]  # sorted by radius
        assert 0.6 < control["embedding_l2"] < 0.68  # 0.02 * sqrt(1024) = 0.64
        assert control["example_max"] == 0 and control["token_max"] == 0, control
        assert all(within(r) for r in grid) and not within(top), (variant, grid, top)


def test_docs_budget_table_is_the_commands_output(study_budget_rows, capsys, monkeypatch):
    """docs/methods.md's table is what `python -m xlt.bench.adversarial --scale` prints: the command's own
    main() on config.yaml, its measurement (budget_rows, deterministic on CPU) taken from the fixture."""
    from xlt.bench import adversarial

    seen = []
    monkeypatch.setattr(adversarial, "budget_rows", lambda config: seen.append(config) or study_budget_rows)
    adversarial.main(["--scale"])
    assert seen == [STUDY]
    out = capsys.readouterr().out.strip()
    assert out == budget_table(study_budget_rows).strip()
    page = (ROOT / "docs" / "methods.md").read_text()
    assert out in page, "docs/methods.md's budget table is stale: paste `python -m xlt.bench.adversarial --scale`"


def test_train_log_records_the_embedding_scale_and_each_steps_perturbation_ratio(fixtures_dir, tiny_model_dir, tmp_path):
    task, fcfg = FORMATS["classification"]
    data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), fcfg, str(tmp_path / "f.parquet"))
    spec = {"name": task, "train": str(tmp_path / "f.parquet"), "dev": str(tmp_path / "f.parquet"),
            "dev_data": str(fixtures_dir / task / "train.parquet")}
    cfg = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 4, "eval_every": 4}
    train.fine_tune_tasks([spec], str(tiny_model_dir), cfg, 0, str(tmp_path / "c"), str(tmp_path / "m.json"),
                          str(tmp_path / "log.jsonl"), variant="fgm", variant_block={"method": "fgm", "epsilon": 0.05,
                                                                                "scale": "embedding"})
    records = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    scale = records[0]["embedding_scale"]
    assert records[0]["variant_block"]["scale"] == "embedding"
    assert scale["hidden_size"] == 64 and scale["tokens"] > 100
    assert 0.1 < scale["token_l2_rms"] < 0.25 and scale["element_rms"] == pytest.approx(scale["token_l2_rms"] / 8)
    steps = [r for r in records if "loss" in r]
    assert len(steps) == 4
    for r in steps:
        assert set(r["perturbation"]) == {"token_max", "token_median", "example_max", "example_median"}
        assert 0.03 < r["perturbation"]["example_median"] < 0.07
    # standard runs log the scale but no perturbation
    train.fine_tune_tasks([spec], str(tiny_model_dir), cfg, 0, str(tmp_path / "c2"), str(tmp_path / "m2.json"),
                          str(tmp_path / "log2.jsonl"))
    records = [json.loads(line) for line in open(tmp_path / "log2.jsonl")]
    assert "embedding_scale" in records[0] and not any("perturbation" in r for r in records)


def test_embedding_scale_is_measured_over_real_tokens_only(models, features, tokenizer):
    model = models["classification"]
    batch = _batch(features, "classification", tokenizer.pad_token_id, 0)
    scale = measure_embedding_scale(model, [batch])
    norms = model.embed(batch["input_ids"]).detach().norm(dim=-1)[batch["attention_mask"].bool()]
    assert scale["tokens"] == int(batch["attention_mask"].sum())
    assert scale["token_l2_rms"] == pytest.approx(float(norms.pow(2).mean().sqrt()), rel=1e-5)


def test_calibrated_radius_rescales_the_tied_sizes_and_ties_go_to_the_smaller_radius():
    block = STUDY["variants"]["freelb"]
    got = with_radius(block, 0.1)
    assert "budget" not in got and got["max_norm"] == 0.1
    assert got["adv_lr"] == pytest.approx(block["adv_lr"] * 0.1 / block["max_norm"])
    assert got["init_mag"] == pytest.approx(block["init_mag"] * 0.1 / block["max_norm"])
    smart = with_radius(STUDY["variants"]["smart"], 1e-2)
    assert smart["noise_std"] == pytest.approx(1e-2) and smart["step_size"] == pytest.approx(1.0)
    # without the control: the best mean over seeds, ties to the smaller radius (the control rule: test_selection.py)
    assert calibration.choose({0.01: {1: 80.0}, 0.03: {1: 81.5}, 0.1: {1: 81.5}})["chosen"] == 0.03
    assert calibration.choose({0.01: {1: 80.0}})["chosen"] == 0.01
    assert calibration.point_label(1e-5) == "1e-05" and calibration.point_label(0.03) == "0.03"
    assert calibration.point_label(0.0) == "0" and with_radius(block, 0.0)["adv_lr"] == 0.0  # the control


def test_a_calibrated_block_is_never_used_unresolved(tmp_path):
    with pytest.raises(ValueError, match="budget: calibrated"):
        make_strategy(STUDY["variants"]["fgm"])
    with pytest.raises(ValueError, match="no calibration result"):
        train.resolve_budget(STUDY["variants"]["fgm"], None)
    (tmp_path / "fgm.json").write_text(json.dumps({"chosen": 0.1}))
    assert train.resolve_budget(STUDY["variants"]["fgm"], str(tmp_path / "fgm.json"))["epsilon"] == 0.1


def test_config_names_what_a_calibrated_variant_lacks():
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    no_stage = {**demo, "study": {k: v for k, v in demo["study"].items() if k != "calibration"}}
    with pytest.raises(ConfigError, match=r"variants.freelb: budget: calibrated needs study.calibration"):
        validate_config(no_stage)
    no_grid = {**demo, "study": {**demo["study"], "calibration": {**demo["study"]["calibration"], "grid": {"fgm": [0.1]}}}}
    with pytest.raises(ConfigError, match=r"study.calibration.grid: no radii for variant 'freelb'"):
        validate_config(no_grid)
    old_smart = {**demo, "variants": {**demo["variants"], "smart": {"method": "smart", "noise_var": 1e-5}}}
    with pytest.raises(ConfigError, match=r"variants.smart: .*'noise_var' was unexpected.*noise_std"):
        validate_config(old_smart)


def test_heads_stay_fp32_under_bf16_autocast_so_small_kl_perturbations_keep_their_signal(features, models, tokenizer):
    """Measured on CPU bf16 autocast: with bf16 head outputs, SMART's KL at the study's smallest radius is
    rounding noise (ascent = random direction); fp32 heads keep the ascent ~40x above a random direction."""
    model = models["classification"]
    batch = _batch(features, "classification", tokenizer.pad_token_id, 2, size=16)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    (label, block), *_ = _study_blocks("smart")

    def apply(m, e):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return m(inputs_embeds=e, attention_mask=batch["attention_mask"], task="t")

    torch.manual_seed(0)
    ctx = StepContext(model=model, batch=batch, task="t", fmt=get_format("classification"), apply=apply, scale=1.0,
                      trace=[])
    make_strategy(block).step(ctx)
    model.zero_grad(set_to_none=True)
    end = ctx.trace[-1]
    signs = torch.randn(end.shape, generator=torch.Generator().manual_seed(1)).sign() * mask
    control = signs * (end.flatten(1).norm(dim=1) / signs.flatten(1).norm(dim=1)).view(-1, 1, 1)
    with torch.no_grad():
        logits = ctx.run(ctx.clean())
        assert logits.dtype == torch.float32
        clean, w = ctx.distributions(logits)
        ascent, random = (kl(ctx.distributions(ctx.run(ctx.clean() + d))[0], clean, w) for d in (end, control))
    assert float(ascent) > 10 * float(random), (label, float(ascent), float(random))


def test_effect_rows_measure_each_radius_against_radius_zero_in_train_mode():
    """bench_adversarial --effects on a tiny body: with shared masks radius 0 has no regulariser and the
    gradient change grows with the radius; with independent masks the regulariser at 0 is dropout's."""
    from xlt.bench.adversarial import effect_rows

    config = {**STUDY, "variants": {"standard": STUDY["variants"]["standard"], "r3f": STUDY["variants"]["r3f"]}}
    rows = effect_rows(config, arch=dict(vocab_size=500, hidden_size=64, n_layer=2, n_head=4), batch=8, seq=16)
    shared = [r for r in rows if r["dropout"] == "shared"]
    assert shared[0]["radius"] == "epsilon 0" and shared[0]["regulariser"] == 0.0 and shared[0]["grad_change"] == 0.0
    changes = [r["grad_change"] for r in shared]
    assert all(b > a for a, b in zip(changes, changes[1:])), changes
    independent = next(r for r in rows if r["dropout"] == "independent" and r["radius"] == "epsilon 0")
    assert independent["regulariser"] > 1e-3 and independent["dropout_floor"] > 0
