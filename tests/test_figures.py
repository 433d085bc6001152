"""The figures (xlt/analysis/figures.py) on synthetic results with known effects: readable heatmap labels
(contrast chosen per cell), a diverging scale fixed at the declared range, hatching exactly where a CI
spans 0, the baseline row, every system shown (no pick after the fact), intervals clipped to the
metric's range, chance lines, training curves with a colour per variant and a line style per seed, and
no text outside the canvas. The demo's own figures are checked in tests/test_workflow.py."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from xlt.analysis import figures as F
from xlt.analysis.comparisons import comparisons

LANGS = ["en", "de", "ja"]


def _contrast(a, b) -> float:
    def lum(c):
        lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in to_rgba(c)[:3]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture(scope="module")
def comps():
    """mnli/fgm +10 points over mnli/standard (a CI clear of 0), qqp/fgm = qqp/standard (a CI across 0)."""
    rng = np.random.default_rng(0)
    systems = {("none", "standard"): 0.5, ("mnli", "standard"): 0.6, ("mnli", "fgm"): 0.7,
               ("qqp", "standard"): 0.6, ("qqp", "fgm"): 0.6}
    rows = []
    for lang in LANGS:
        difficulty = rng.random(400)
        for (inter, variant), acc in systems.items():
            for seed in (1, 2):
                correct = (difficulty + rng.random(400) * 0.1) < acc
                rows += [{"model": "m", "intermediate": inter, "variant": variant, "seed": seed, "language": lang,
                          "example_id": f"{lang}-{i}", "metric": "accuracy", "value": 100.0 * c}
                         for i, c in enumerate(correct)]
    out = comparisons(pd.DataFrame(rows), 300, 0)
    return out.assign(target="paws_x", metric="accuracy")


def test_text_colour_is_the_more_contrasting_of_black_and_white():
    for colour in [*plt.cm.viridis(np.linspace(0, 1, 11)), *plt.cm.RdBu(np.linspace(0, 1, 11)), "yellow", "navy"]:
        chosen = F.text_colour(colour)
        other = "white" if chosen == "black" else "black"
        assert _contrast(chosen, colour) >= _contrast(other, colour) and _contrast(chosen, colour) >= 4.5
    assert F.text_colour("yellow") == "black" and F.text_colour(plt.cm.RdBu(0.0)) == "white"


def test_heatmap_scale_hatching_baseline_and_labels(comps):
    fig = F.heatmap(comps, "paws_x", chance=50.0)
    score, vs_standard, vs_none = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [t.get_text() for t in score.get_yticklabels()] == ["mnli", "qqp", "none (baseline)"]
    assert [t.get_text() for t in vs_standard.get_yticklabels()] == ["mnli", "qqp", "pooled over tasks"]
    # the diverging scales are the declared ±DELTA_RANGE, whatever the data (here a +10 effect)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    limits = [tuple(round(v, 6) for v in b.get_ylim()) for b in bars]
    assert limits[1] == limits[2] == (-F.DELTA_RANGE, F.DELTA_RANGE)
    # hatched exactly where the 95% CI spans 0: mnli/fgm (+10) not, qqp/fgm (0) yes
    hatched = {(round(p.get_x() + 0.5), round(p.get_y() + 0.5)): bool(p.get_hatch())
               for p in vs_standard.patches if isinstance(p, Rectangle)}
    avg = comps[(comps["language"] == "avg-xx") & (comps["kind"] == "vs_standard")].set_index("intermediate")
    assert avg.loc["mnli", "ci_low"] > 0 and avg.loc["qqp", "ci_low"] < 0 < avg.loc["qqp", "ci_high"]
    assert hatched[(0, 0)] is False and hatched[(0, 1)] is True
    # every number contrasts with its own cell
    for ax in (score, vs_standard, vs_none):
        faces = {(round(p.get_x() + 0.5), round(p.get_y() + 0.5)): p.get_facecolor() for p in ax.patches
                 if isinstance(p, Rectangle)}
        for text in ax.texts:
            x, y = text.get_position()
            if text.get_text() != "–":
                assert _contrast(text.get_color(), faces[(round(x), round(y))]) >= 4.5, text.get_text()
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in (score, vs_standard, vs_none))
    said = " ".join(t.get_text() for t in fig.findobj(plt.Text))
    assert "95% CI" in said and "±5" in said and "chance" in said
    assert F.overflow(fig) == []


def test_language_figure_shows_every_system_with_clipped_intervals_and_chance(comps):
    low = comps.copy()
    low.loc[(low["kind"] == "system") & (low["intermediate"] == "none"), "ci_low"] = -30.0  # a CI past 0
    fig = F.language_intervals(low, "paws_x", LANGS, {lang: 50.0 for lang in LANGS} | {"avg-xx": 50.0})
    scores, pooled, tasks = fig.axes[:3]
    systems = comps[(comps["kind"] == "system")][["intermediate", "variant"]].drop_duplicates()
    assert len(scores.containers) == len(systems) == 5  # every system, not a selected one
    assert len(pooled.containers) == 1 and len(tasks.containers) == 2  # fgm pooled; mnli, qqp vs none
    for container in scores.containers:
        for segment in container.lines[2][0].get_segments():
            assert segment[:, 1].min() >= 0 and segment[:, 1].max() <= 100  # clipped to the score's range
    assert any("chance" in t.get_text() for t in scores.get_legend().get_texts())
    assert all(ax.get_ylabel() for ax in (scores, pooled, tasks)) and tasks.get_xlabel()
    assert "95% CI" in fig.get_supxlabel() if hasattr(fig, "get_supxlabel") else True
    assert F.overflow(fig) == []


def test_training_curves_colour_per_variant_style_per_seed_and_fitted_smoothing():
    rows = [{"model": "m", "task": "mnli", "variant": v, "seed": s, "step": k, "quantity": "loss", "value": 1.0 / k}
            for v in ("standard", "freelb") for s in (1, 2) for k in range(1, 31)]
    rows += [{"model": "m", "task": "mnli", "variant": v, "seed": s, "step": k, "quantity": "dev", "value": 40.0 + k}
             for v in ("standard", "freelb") for s in (1, 2) for k in (10, 20, 30)]
    fig = F.training_curves(pd.DataFrame(rows), chance={"mnli": 33.3})
    loss, dev, ratio = fig.axes[:3]
    assert F.smoothing_window(30) == 3 and "running mean of 3 steps" in loss.get_title()
    assert F.smoothing_window(300) == 30 and F.smoothing_window(8) == 1
    lines = [line for line in loss.get_lines()]
    assert len({line.get_color() for line in lines}) == 2 and len({line.get_linestyle() for line in lines}) == 2
    assert len({line.get_linewidth() for line in lines}) == 2  # the later variant thinner, on top
    assert all(ax.get_ylabel() and ax.get_xlabel() for ax in (loss, dev, ratio))
    assert any(line.get_ydata()[0] == 33.3 for line in dev.get_lines())  # chance
    assert F.overflow(fig) == []


def test_overflow_finds_text_outside_the_canvas_and_save_writes_png_and_pdf(tmp_path):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("a title far too long to fit on a three-inch-wide figure, which is the point of this test")
    assert F.overflow(fig)
    F.save(F.gap_plot(pd.DataFrame({"target": ["paws_x"] * 2, "metric": ["accuracy"] * 2, "language": ["gap"] * 2,
                                    "intermediate": ["mnli", "none"], "variant": ["standard"] * 2,
                                    "mean": [3.0, 4.0], "std": [1.0, 1.0], "seeds": [2, 2]}), ["paws_x"]),
           str(tmp_path / "g.png"), str(tmp_path / "g.pdf"))
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"
