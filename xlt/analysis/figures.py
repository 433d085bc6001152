"""Figures of the research answer (matplotlib, PNG): heatmaps, per-language bars, cross-lingual gap,
intermediate training curves."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from xlt.workflow.plan import BASELINE  # noqa: E402
from xlt.analysis.report import AVG, PRIMARY  # noqa: E402


def _grid(agg, target, column):
    sub = agg[(agg["target"] == target) & (agg["metric"] == PRIMARY[target]) & (agg["language"] == AVG)
              & (agg["intermediate"] != BASELINE)]
    return sub.pivot_table(index="intermediate", columns="variant", values=column)


def heatmap(agg: pd.DataFrame, target: str, path: str) -> None:
    """Intermediate task x variant: non-English average, and its delta vs standard."""
    mean, delta = _grid(agg, target, "mean"), _grid(agg, target, "delta_vs_standard")
    delta = delta.reindex(index=mean.index, columns=[c for c in mean.columns if c != "standard"])
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.6 * len(mean.columns), 1.2 + 0.45 * len(mean)), squeeze=False)
    for ax, data, title, cmap in ((axes[0, 0], mean, f"non-English avg {PRIMARY[target]}", "viridis"),
                                  (axes[0, 1], delta, "Δ vs standard (points)", "RdBu")):
        values = data.to_numpy(dtype=float)
        bound = np.nanmax(np.abs(values)) if cmap == "RdBu" and np.isfinite(values).any() else None
        im = ax.imshow(values, cmap=cmap, aspect="auto",
                       vmin=-bound if bound else None, vmax=bound if bound else None)
        ax.set_xticks(range(len(data.columns)), data.columns, rotation=30, ha="right")
        ax.set_yticks(range(len(data.index)), data.index)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8, color="black" if cmap == "RdBu" else "white")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"{target}: intermediate task × variant", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def language_bars(comps: pd.DataFrame, agg: pd.DataFrame, target: str, languages: list[str], path: str) -> None:
    """Per language: the best adversarial system vs the same task trained standard vs the baseline,
    with 95% bootstrap CIs of each mean."""
    systems = comps[comps["kind"] == "system"]
    avg = systems[systems["language"] == AVG]
    adversarial = avg[(avg["variant"] != "standard") & (avg["intermediate"] != BASELINE)]
    pool = adversarial if len(adversarial) else avg[avg["intermediate"] != BASELINE]
    best = pool.loc[pool["delta"].idxmax()] if len(pool) else avg.iloc[0]
    picks = [(best["intermediate"], best["variant"]), (best["intermediate"], "standard"), (BASELINE, "standard")]
    picks = list(dict.fromkeys(picks))
    groups = sorted(c for c in systems["language"].unique() if str(c).startswith("avg:"))  # exploratory
    cols = [*languages, AVG, *groups]
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(cols), 3.6))
    width = 0.8 / len(picks)
    for k, (inter, variant) in enumerate(picks):
        rows = systems[(systems["intermediate"] == inter) & (systems["variant"] == variant)].set_index("language")
        rows = rows.reindex(cols)
        x = np.arange(len(cols)) + (k - (len(picks) - 1) / 2) * width
        err = np.vstack([rows["delta"] - rows["ci_low"], rows["ci_high"] - rows["delta"]])
        ax.bar(x, rows["delta"], width, yerr=err, capsize=2, label=f"{inter} / {variant}")
    ax.set_xticks(range(len(cols)), cols, fontsize=8, rotation=30, ha="right")
    ax.set_ylabel(f"{PRIMARY[target]} (points)")
    ax.set_title(f"{target}: adversarial run with the best non-English average (selected; exploratory) "
                 "vs the same task trained standard vs no intermediate (95% CI)", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gap_plot(agg: pd.DataFrame, targets: list[str], path: str) -> None:
    """Cross-lingual gap (en - non-English avg) per variant, mean over intermediate tasks."""
    fig, axes = plt.subplots(1, len(targets), figsize=(4 * len(targets), 3.2), squeeze=False)
    for ax, target in zip(axes[0], targets):
        sub = agg[(agg["target"] == target) & (agg["metric"] == PRIMARY[target]) & (agg["language"] == "gap")]
        per_variant = sub[sub["intermediate"] != BASELINE].groupby("variant")["mean"].agg(["mean", "std"])
        base = sub[sub["intermediate"] == BASELINE]["mean"]
        ax.bar(per_variant.index, per_variant["mean"], yerr=per_variant["std"].fillna(0), capsize=3, color="tab:blue")
        if len(base):
            ax.axhline(base.iloc[0], color="tab:red", linestyle="--", label="no intermediate")
            ax.legend(fontsize=8)
        ax.set_title(f"{target}: cross-lingual gap", fontsize=10)
        ax.set_ylabel("en − non-English avg (points)")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def training_curves(curves: pd.DataFrame, path: str, smooth: int = 20) -> None:
    """Per intermediate task (rows): training loss (running mean over `smooth` steps), dev selection
    score, and the perturbation's per-example ratio ||delta|| / ||e|| (median over the batch) per step;
    one colour per variant, one line per seed. A collapsed or never-learning run shows at a glance."""
    tasks = list(dict.fromkeys(curves["task"]))
    variants = list(dict.fromkeys(curves["variant"]))
    colours = {v: plt.cm.tab10(i % 10) for i, v in enumerate(variants)}
    panels = [("loss", f"train loss (mean of {smooth} steps)"), ("dev", "dev selection score"),
              ("example_median", "‖δ‖/‖e‖ per example (median)")]
    fig, axes = plt.subplots(len(tasks), 3, figsize=(13, 2.6 * len(tasks) + 0.6), squeeze=False)
    for row, task in enumerate(tasks):
        for col, (quantity, title) in enumerate(panels):
            ax = axes[row, col]
            sub = curves[(curves["task"] == task) & (curves["quantity"] == quantity)]
            for (model, variant, seed), run in sub.groupby(["model", "variant", "seed"], sort=False):
                run = run.sort_values("step")
                y = run["value"].rolling(smooth, min_periods=1).mean() if quantity == "loss" else run["value"]
                ax.plot(run["step"], y, color=colours[variant], marker="o" if quantity == "dev" else None,
                        markersize=3, linewidth=1, alpha=0.85, label=variant if seed == sub["seed"].min() else None)
            if quantity == "example_median":
                ax.set_ylim(bottom=0)
            if sub.empty:
                ax.text(0.5, 0.5, "standard training only" if quantity == "example_median" else "no data",
                        ha="center", va="center", transform=ax.transAxes, fontsize=8, color="grey")
            ax.set_title(f"{task}: {title}", fontsize=9)
            ax.set_xlabel("optimizer step", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [plt.Line2D([], [], color=colours[v], label=v) for v in variants]
    fig.legend(handles=handles, loc="upper center", ncol=len(variants), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (2.6 * len(tasks) + 0.6)))
    fig.savefig(path, dpi=100)
    plt.close(fig)
