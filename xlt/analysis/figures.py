"""Figures of the research answer (matplotlib; each saved as PNG for the HTML report and PDF for a paper):
heatmaps, per-language intervals, cross-lingual gap, intermediate training curves.

Conventions, the same in every figure and said on each:
  * one interval kind: 95% confidence intervals, clipped to the quantity's range (a score lies in
    [0, 100] points, a difference of two scores in [-100, 100]); the per-language and heatmap intervals
    are comparisons.csv's two-level bootstrap CIs, the gap's a t interval over intermediate tasks;
  * every system is shown — no run or system is picked after the fact for being best;
  * differences use a diverging scale centred on 0 with a range declared here (DELTA_RANGE), not fitted
    to the data, so two figures' colours mean the same;
  * chance (xlt/data/chance.py: the best constant prediction's score on the test language, or on the
    English dev split in the training curves) is drawn where it is above 0;
  * every title, label and legend stays inside the canvas (constrained layout; the demo test checks)."""
from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import Normalize, to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from xlt.workflow.plan import BASELINE  # noqa: E402
from xlt.analysis.report import AVG, PRIMARY  # noqa: E402

SCORE_RANGE = (0.0, 100.0)       # points
DIFFERENCE_RANGE = (-100.0, 100.0)
DELTA_RANGE = 5.0  # points: the diverging colour scale spans ±5 (5x the study's 1-point effect of interest);
#                    a larger difference takes the end colour and its number says how large it is
INTERVAL = "95% CI"
DPI = 200
SEED_STYLES = ["-", "--", ":", "-."]
VARIANT_COLOURS = plt.cm.tab10.colors
FONT = 8


def save(fig: Figure, *paths: str) -> None:
    """Write the figure to each path in the format its suffix names (.png at DPI, .pdf vector); text that
    would leave the canvas is said in the job's log (the demo test fails on it)."""
    for path in paths:
        fig.savefig(path, dpi=DPI, format=str(path).rsplit(".", 1)[-1])
    for problem in overflow(fig):
        print(f"WARNING: {paths[0] if paths else 'figure'}: {problem}")
    plt.close(fig)


def overflow(fig: Figure, tolerance_px: float = 1.0) -> list[str]:
    """Every visible text of the figure that leaves its canvas (titles, labels, ticks, legends,
    annotations), and the figure's tight bounding box if it does: [] when everything is inside."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    # tick labels exist for ticks outside the view too and are not drawn: the tight box below covers the drawn ones
    ticks = {id(label) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()] for label in (tick.label1, tick.label2)}
    problems = []
    for text in fig.findobj(Text):
        if id(text) in ticks or not text.get_visible() or not text.get_text().strip() or text.figure is None:
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < canvas.x0 - tolerance_px or box.y0 < canvas.y0 - tolerance_px or \
                box.x1 > canvas.x1 + tolerance_px or box.y1 > canvas.y1 + tolerance_px:
            problems.append(f"text {text.get_text()[:40]!r} at {box.bounds} leaves the canvas {canvas.bounds}")
    tight = fig.get_tightbbox(renderer)  # inches
    width, height = fig.get_size_inches()
    if tight.x0 < -0.01 or tight.y0 < -0.01 or tight.x1 > width + 0.01 or tight.y1 > height + 0.01:
        problems.append(f"the figure's tight bounding box {tight.bounds} leaves its canvas (0, 0, {width}, {height})")
    return problems


def clip(low, high, bounds: tuple[float, float]):
    """An interval clipped to the quantity's range (a bootstrap/t interval can run past 0 for F1 near 0)."""
    return np.clip(low, *bounds), np.clip(high, *bounds)


def wrap(text: str, width_in: float, fontsize: float = FONT) -> str:
    """`text` wrapped to fit `width_in` inches at `fontsize` (average glyph ~0.55 em)."""
    return textwrap.fill(text, max(20, int(width_in * 72 / (0.55 * fontsize))))


def text_colour(rgba) -> str:
    """Black or white, whichever contrasts more with the cell colour (WCAG relative luminance)."""
    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in to_rgba(rgba)[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "black" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "white"


def _order(values, first: str | None = None) -> list:
    seen = list(dict.fromkeys(v for v in values if isinstance(v, str)))
    return ([first] if first in seen else []) + [v for v in seen if v != first]


def _footnote(fig: Figure, text: str, width_in: float) -> None:
    fig.supxlabel(wrap(text, width_in - 0.3, FONT - 1), fontsize=FONT - 1, color="0.25")


# ---------------------------------------------------------------- heatmap

def _cells(ax, values, lows, highs, norm, cmap, fmt, hatch_if_spans_zero, bad="0.92"):
    """Coloured cells with a contrasting number each; hatching where the CI spans 0 (differences)."""
    rows, cols = values.shape
    colours = cmap(norm(np.nan_to_num(values)))
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    for i in range(rows):
        for j in range(cols):
            v = values[i, j]
            face = colours[i, j] if np.isfinite(v) else to_rgba(bad)
            spans = hatch_if_spans_zero and np.isfinite(v) and lows[i, j] <= 0 <= highs[i, j]
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=face, edgecolor="white", linewidth=1,
                                   hatch="///" if spans else None))
            if np.isfinite(v):
                ax.text(j, i, fmt(v, lows[i, j], highs[i, j]), ha="center", va="center", fontsize=FONT - 1,
                        color=text_colour(face),
                        bbox=dict(boxstyle="round,pad=0.15", facecolor=face, edgecolor="none") if spans else None)
            else:
                ax.text(j, i, "–", ha="center", va="center", fontsize=FONT - 1, color="0.45")
    for side in ax.spines.values():
        side.set_visible(False)


def _table(rows: pd.DataFrame, index: list, columns: list, field: str) -> np.ndarray:
    table = rows.pivot_table(index="intermediate", columns="variant", values=field, aggfunc="first")
    return table.reindex(index=index, columns=columns).to_numpy(dtype=float)


def heatmap(comps: pd.DataFrame, target: str, chance: float | None = None) -> Figure:
    """Intermediate task x variant on the non-English average of the target's primary metric: each
    system's score (the baseline as its own row), its difference from the same task trained standard
    (with the pooled adversarial contrast as a last row), and from no intermediate task; 95% CIs as ±
    (scores) or hatching where they span 0 (differences)."""
    metric = PRIMARY[target]
    chance = chance if chance else None  # 0 (span QA: an empty answer) is the axis itself, not a line
    avg = comps[(comps["target"] == target) & (comps["language"] == AVG)] if "target" in comps else \
        comps[comps["language"] == AVG]
    systems = avg[avg["kind"] == "system"]
    tasks = _order(systems.loc[systems["intermediate"] != BASELINE, "intermediate"])
    variants = _order(systems["variant"], first="standard")
    adversarial = [v for v in variants if v != "standard"]
    vs_std, vs_base = avg[avg["kind"] == "vs_standard"], avg[avg["kind"] == "vs_baseline"]
    pooled = avg[avg["kind"] == "pooled_vs_standard"].assign(intermediate="pooled over tasks")
    rows_mean = [*tasks, BASELINE]
    rows_std = [*tasks, "pooled over tasks"] if len(pooled) else tasks
    panels = [
        (f"score: non-English average {metric}", rows_mean, variants, systems, False),
        ("Δ vs the same task trained standard", rows_std, adversarial, pd.concat([vs_std, pooled]), True),
        ("Δ vs no intermediate task", tasks, variants, vs_base, True),
    ]
    panels = [p for p in panels if p[1] and p[2]]
    ncols = sum(len(p[2]) for p in panels)
    nrows = max(len(p[1]) for p in panels)
    width = 2.2 + 0.8 * ncols + 1.1 * len(panels)
    fig = plt.figure(figsize=(width, 2.0 + 0.42 * nrows), layout="constrained")
    grid = fig.add_gridspec(1, len(panels), width_ratios=[len(p[2]) + 0.8 for p in panels])
    seq = plt.get_cmap("viridis")
    div = plt.get_cmap("RdBu")
    for k, (title, index, columns, rows, is_delta) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        values = _table(rows, index, columns, "delta")
        lows, highs = clip(_table(rows, index, columns, "ci_low"), _table(rows, index, columns, "ci_high"),
                           DIFFERENCE_RANGE if is_delta else SCORE_RANGE)
        if is_delta:
            norm, cmap = Normalize(-DELTA_RANGE, DELTA_RANGE), div
            fmt = lambda v, lo, hi: f"{v:+.1f}"
        else:
            finite = [*values[np.isfinite(values)], *([chance] if chance is not None else [])]
            lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)  # chance inside the scale
            norm, cmap = Normalize(lo, hi if hi > lo else lo + 1), seq
            fmt = lambda v, lo, hi: f"{v:.1f}\n±{(hi - lo) / 2:.1f}"
        _cells(ax, values, lows, highs, norm, cmap, fmt, is_delta)
        ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=FONT)
        ax.set_yticks(range(len(index)), [f"{i} (baseline)" if i == BASELINE else i for i in index], fontsize=FONT)
        ax.set_xlabel("variant", fontsize=FONT)
        ax.set_ylabel("intermediate task", fontsize=FONT)
        ax.set_title(wrap(title, 0.8 * len(columns) + 0.6, FONT + 1), fontsize=FONT + 1)
        bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.9, pad=0.02,
                           extend="both" if is_delta else "neither")
        bar.ax.tick_params(labelsize=FONT - 1)
        marked = not is_delta and chance is not None and norm.vmin <= chance <= norm.vmax
        bar.set_label(f"Δ {metric} (points; scale ±{DELTA_RANGE:g})" if is_delta else
                      f"{metric} (points)" + ("; dashed: chance" if marked else ""), fontsize=FONT - 1)
        if marked:
            bar.ax.axhline(chance, color="black", linestyle="--", linewidth=1.2)
    fig.suptitle(f"{target}: intermediate task × variant, non-English average ({metric})", fontsize=FONT + 2)
    chance_note = f" Chance (best constant prediction on the test languages): {chance:.1f}." if chance else ""
    _footnote(fig, f"Scores: mean over seeds ± half the {INTERVAL} (two-level bootstrap; clipped to 0–100). "
                   f"Differences: hatched where the {INTERVAL} spans 0; colour scale declared at ±{DELTA_RANGE:g} "
                   f"points (beyond: the end colour). –: not trained.{chance_note}", width)
    return fig


# ---------------------------------------------------------------- per language

def _language_axis(ax, cols: list[str], languages: list[str]) -> None:
    ax.set_xticks(range(len(cols)), cols, fontsize=FONT, rotation=30, ha="right")
    ax.set_xlim(-0.6, len(cols) - 0.4)
    if AVG in cols:
        ax.axvline(cols.index(AVG) - 0.5, color="0.6", linewidth=0.8)
    ax.tick_params(axis="y", labelsize=FONT)
    ax.grid(axis="y", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)


def _intervals(ax, rows: pd.DataFrame, cols: list[str], offset: float, bounds, **style) -> None:
    rows = rows.set_index("language").reindex(cols)
    x = np.arange(len(cols)) + offset
    lo, hi = clip(rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float), bounds)
    y = rows["delta"].to_numpy(float)
    ax.errorbar(x, y, yerr=np.vstack([y - lo, hi - y]), fmt=style.pop("fmt", "o"), capsize=2, elinewidth=0.9,
                markersize=4, **style)


def language_intervals(comps: pd.DataFrame, target: str, languages: list[str],
                       chance: dict[str, float] | None = None) -> Figure:
    """Per language (then the non-English average and the language groups): every system's score with
    its 95% CI and the chance level; each adversarial variant's difference from standard pooled over
    tasks (the confirmatory contrast, here per language: exploratory); each intermediate task's
    difference from none. All systems, no selection."""
    metric = PRIMARY[target]
    sub = comps[comps["target"] == target] if "target" in comps else comps
    groups = sorted(c for c in sub["language"].unique() if str(c).startswith("avg:"))
    cols = [*languages, AVG, *groups]
    systems = sub[sub["kind"] == "system"]
    variants = _order(systems["variant"], first="standard")
    tasks = _order(systems.loc[systems["intermediate"] != BASELINE, "intermediate"])
    colours = {v: VARIANT_COLOURS[i % 10] for i, v in enumerate(variants)}
    width = max(7.5, 1.6 + 0.75 * len(cols))
    fig, axes = plt.subplots(3, 1, figsize=(width, 9.0), layout="constrained", sharex=True)

    ax = axes[0]  # every system's score
    slots = [*variants, BASELINE]
    slot_w = 0.8 / len(slots)
    for s, slot in enumerate(slots):
        base = (s - (len(slots) - 1) / 2) * slot_w
        if slot == BASELINE:
            rows = systems[systems["intermediate"] == BASELINE]
            _intervals(ax, rows, cols, base, SCORE_RANGE, color="black", fmt="D", label="no intermediate task")
            continue
        mine = [t for t in tasks if ((systems["intermediate"] == t) & (systems["variant"] == slot)).any()]
        for k, task in enumerate(mine):
            jitter = (k - (len(mine) - 1) / 2) * slot_w / max(len(mine), 1) * 0.8
            rows = systems[(systems["intermediate"] == task) & (systems["variant"] == slot)]
            _intervals(ax, rows, cols, base + jitter, SCORE_RANGE, color=colours[slot], alpha=0.8,
                       label=f"{slot} (one mark per intermediate task)" if k == 0 else None)
    if chance:
        level = [chance.get(c, np.nan) for c in cols]
        if np.nanmax(np.nan_to_num(level)) > 0:
            ax.hlines(level, np.arange(len(cols)) - 0.45, np.arange(len(cols)) + 0.45, colors="0.3",
                      linestyles="--", linewidth=1, label="chance (best constant prediction)")
    ax.set_ylabel(f"{metric} (points)", fontsize=FONT)
    ax.set_title("score of every system", fontsize=FONT + 1)
    ax.legend(fontsize=FONT - 1, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _language_axis(ax, cols, languages)

    ax = axes[1]  # pooled adversarial vs standard
    pooled = sub[sub["kind"] == "pooled_vs_standard"]
    adv = [v for v in variants if v != "standard"]
    for k, variant in enumerate(adv):
        _intervals(ax, pooled[pooled["variant"] == variant], cols, (k - (len(adv) - 1) / 2) * 0.8 / max(len(adv), 1),
                   DIFFERENCE_RANGE, color=colours[variant], label=variant)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(f"Δ {metric} (points)", fontsize=FONT)
    ax.set_title("each adversarial variant − standard, pooled over intermediate tasks", fontsize=FONT + 1)
    if adv:
        ax.legend(fontsize=FONT - 1, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _language_axis(ax, cols, languages)

    ax = axes[2]  # each task vs none (standard training)
    vs_base = sub[(sub["kind"] == "vs_baseline") & (sub["variant"] == "standard")]
    task_colours = plt.cm.Dark2.colors
    for k, task in enumerate(tasks):
        _intervals(ax, vs_base[vs_base["intermediate"] == task], cols,
                   (k - (len(tasks) - 1) / 2) * 0.8 / max(len(tasks), 1), DIFFERENCE_RANGE,
                   color=task_colours[k % len(task_colours)], label=task)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(f"Δ {metric} (points)", fontsize=FONT)
    ax.set_title("each intermediate task (standard training) − no intermediate task", fontsize=FONT + 1)
    ax.set_xlabel("test language (then the non-English average and language groups)", fontsize=FONT)
    if tasks:
        ax.legend(fontsize=FONT - 1, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _language_axis(ax, cols, languages)

    fig.suptitle(wrap(f"{target}: zero-shot {metric} per language — every system (per language: exploratory; "
                      f"the confirmatory tests are on {AVG})", width - 0.3, FONT + 2), fontsize=FONT + 2)
    _footnote(fig, f"Whiskers: {INTERVAL} (two-level bootstrap over test items and runs; clipped to 0–100 for "
                   "scores, ±100 for differences). Mean over seeds.", width)
    return fig


# ---------------------------------------------------------------- cross-lingual gap

def gap_plot(agg: pd.DataFrame, targets: list[str]) -> Figure:
    """Cross-lingual gap (English minus the non-English average) per variant: the mean over intermediate
    tasks with a 95% t interval over tasks; the no-intermediate baseline as a line with its own interval
    over seeds."""
    from scipy import stats as st

    width = max(4.2 * len(targets), 5.0)
    fig, axes = plt.subplots(1, len(targets), figsize=(width, 3.8), squeeze=False, layout="constrained")
    for ax, target in zip(axes[0], targets):
        sub = agg[(agg["target"] == target) & (agg["metric"] == PRIMARY[target]) & (agg["language"] == "gap")]
        arms = sub[sub["intermediate"] != BASELINE]
        bars = []  # (label, mean, half-width of the 95% CI, colour)
        for k, variant in enumerate(_order(arms["variant"], first="standard")):
            values = arms.loc[arms["variant"] == variant, "mean"].to_numpy(float)
            half = st.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)) \
                if len(values) > 1 else np.nan
            bars.append((f"{variant}\n({len(values)} task{'s' * (len(values) != 1)})", values.mean(), half,
                         VARIANT_COLOURS[k % 10]))
        for _, b in sub[sub["intermediate"] == BASELINE].head(1).iterrows():
            half = st.t.ppf(0.975, b["seeds"] - 1) * b["std"] / np.sqrt(b["seeds"]) if b["seeds"] > 1 else np.nan
            bars.append((f"none (baseline)\n({int(b['seeds'])} seeds)", b["mean"], half, "0.55"))
        for k, (label, mean, half, colour) in enumerate(bars):
            ax.bar(k, mean, 0.6, color=colour, hatch="//" if label.startswith("none") else None, edgecolor="white")
            if np.isfinite(half):
                lo, hi = clip(mean - half, mean + half, DIFFERENCE_RANGE)
                ax.errorbar(k, mean, yerr=[[mean - lo], [hi - mean]], color="black", capsize=3, linewidth=1)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=FONT)
        ax.set_xlabel("variant (mean over intermediate tasks) and the baseline", fontsize=FONT)
        ax.set_ylabel(f"en − non-English average {PRIMARY[target]} (points)", fontsize=FONT)
        ax.tick_params(axis="y", labelsize=FONT)
        ax.set_title(f"{target}: cross-lingual gap", fontsize=FONT + 1)
    fig.suptitle("Cross-lingual gap per training variant (smaller: more of the English score transfers)",
                 fontsize=FONT + 2)
    _footnote(fig, f"Whiskers: {INTERVAL}, clipped to ±100 — for a variant, a t interval over its intermediate tasks "
                   "(each averaged over seeds); for the baseline, a t interval over its seeds.", width)
    return fig


# ---------------------------------------------------------------- training curves

def smoothing_window(steps: int) -> int:
    """Running-mean window fitted to the run: ~10% of its steps (1 = raw for runs under 15 steps)."""
    return max(1, round(steps / 10))


def training_curves(curves: pd.DataFrame, chance: dict[str, float] | None = None) -> Figure:
    """Per intermediate task (rows): training loss (running mean over ~10% of the run), English dev
    selection score (with chance) and the perturbation's per-example ratio ||delta|| / ||e|| (median over
    the batch) per optimizer step; one colour per variant (the arm), one line style per seed; later
    variants are drawn thinner on top, so identical curves both stay visible."""
    tasks = list(dict.fromkeys(curves["task"]))
    variants = _order(curves["variant"], first="standard")
    seeds = sorted(curves["seed"].unique()) if len(curves) else []
    colours = {v: VARIANT_COLOURS[i % 10] for i, v in enumerate(variants)}
    widths = {v: max(0.8, 2.6 - 0.7 * i) for i, v in enumerate(variants)}
    styles = {s: SEED_STYLES[i % len(SEED_STYLES)] for i, s in enumerate(seeds)}
    lengths = curves[curves["quantity"] == "loss"].groupby(["model", "task", "variant", "seed"])["step"].max()
    windows = sorted({smoothing_window(int(n)) for n in lengths}) or [1]
    window_text = f"{windows[0]}" if len(windows) == 1 else f"{windows[0]}–{windows[-1]}"
    panels = [("loss", "training loss", f"training loss (running mean of {window_text} steps)"),
              ("dev", "dev score (points)", "English dev selection score"),
              ("example_median", "‖δ‖ / ‖e‖", "perturbation size ‖δ‖/‖e‖ (batch median)")]
    fig, axes = plt.subplots(max(1, len(tasks)), 3, figsize=(12, 2.5 * max(1, len(tasks)) + 1.2), squeeze=False,
                             layout="constrained")
    for row, task in enumerate(tasks):
        for col, (quantity, ylabel, title) in enumerate(panels):
            ax = axes[row, col]
            sub = curves[(curves["task"] == task) & (curves["quantity"] == quantity)]
            for (model, variant, seed), run in sub.groupby(["model", "variant", "seed"], sort=False):
                run = run.sort_values("step")
                y = run["value"]
                if quantity == "loss":
                    y = y.rolling(smoothing_window(int(run["step"].max())), min_periods=1).mean()
                ax.plot(run["step"], y, color=colours[variant], linestyle=styles[seed],
                        linewidth=widths[variant], alpha=0.85, marker="o" if quantity == "dev" else None,
                        markersize=3)
            if quantity == "dev" and chance and chance.get(task, 0) > 0:
                ax.axhline(chance[task], color="0.3", linestyle="--", linewidth=1)
                ax.text(0.99, chance[task], "chance", transform=ax.get_yaxis_transform(), ha="right",
                        va="bottom", fontsize=FONT - 2, color="0.3")
            if quantity == "example_median":
                ax.set_ylim(bottom=0)
            if sub.empty:
                ax.text(0.5, 0.5, "standard training only" if quantity == "example_median" else "no data",
                        ha="center", va="center", transform=ax.transAxes, fontsize=FONT, color="grey")
            ax.set_title(f"{task}: {title}", fontsize=FONT)
            ax.set_xlabel("optimizer step", fontsize=FONT)
            ax.set_ylabel(ylabel, fontsize=FONT)
            ax.tick_params(labelsize=FONT - 1)
    handles = [plt.Line2D([], [], color=colours[v], linewidth=widths[v], label=v) for v in variants] + \
        [plt.Line2D([], [], color="0.3", linestyle=styles[s], label=f"seed {s}") for s in seeds]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8), fontsize=FONT,
               frameon=False)
    fig.suptitle("Intermediate training: one colour per variant, one line style per seed", fontsize=FONT + 2)
    return fig
