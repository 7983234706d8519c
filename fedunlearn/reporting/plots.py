"""Plots of a report (matplotlib, no display needed). Each reads only the report dictionary."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fedunlearn.evaluation.evaluator import GAP_KEYS  # noqa: E402


def _subtitle(report: Mapping[str, Any]) -> str:
    cfg, seeds = report["experiment"], report["seeds"]
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {','.join(map(str, seeds))}"
    return f"{cfg['name']}: {cfg['dataset']}, {cfg['model']}, {seed_text}"


def _save(fig, path: Path) -> Path:
    """Save ``fig`` as ``path`` atomically (a kill mid-way leaves no half-written picture)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_per_class(report: Mapping[str, Any], path: Path) -> Path:
    """Per-class test accuracy: one group of bars per class, one bar per model, error bars = std over seeds."""
    models = report["models"]
    names = list(models)
    acc = np.array([[np.nan if a is None else a for a in models[n]["metrics"]["per_class_acc"]] for n in names])
    std = np.array([[(models[n]["stats"].get(f"metrics.per_class_acc.{c}") or {}).get("std") or 0.0
                     for c in range(acc.shape[1])] for n in names])
    num_classes = acc.shape[1]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * num_classes * max(1, len(names) / 2.5)), 3.8))
    for i, name in enumerate(names):
        ax.bar(np.arange(num_classes) + (i - (len(names) - 1) / 2) * width, acc[i], width, yerr=std[i],
               capsize=2, label=name, error_kw={"elinewidth": 0.8})
    forget_class = report["request"].get("forget_class")
    if forget_class is not None:
        ax.axvspan(forget_class - 0.45, forget_class + 0.45, color="red", alpha=0.08, zorder=0)
        ax.annotate("forgotten", (forget_class, 1.02), ha="center", color="red", fontsize=8)
    ax.set(xticks=range(num_classes), xlabel="class", ylabel="test accuracy", ylim=(0, 1.08))
    ax.set_title(_subtitle(report), fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="model", title_fontsize=8)
    return _save(fig, path)


def plot_gap_heatmap(report: Mapping[str, Any], path: Path) -> Path:
    """Methods x metrics, signed mean gap to the reference (0 = like retraining)."""
    models = report["models"]
    names = list(models)
    keys = [k for k in GAP_KEYS if any(models[n]["gap"].get(k) is not None for n in names)]
    gap = np.array([[np.nan if models[n]["gap"][k] is None else models[n]["gap"][k] for k in keys] for n in names])
    limit = max(0.05, float(np.nanmax(np.abs(gap))) if np.isfinite(gap).any() else 0.05)
    fig, ax = plt.subplots(figsize=(1.1 * len(keys) + 2.5, 0.55 * len(names) + 1.6))
    image = ax.imshow(gap, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(len(names)):
        for j in range(len(keys)):
            if np.isfinite(gap[i, j]):
                ax.text(j, i, f"{gap[i, j]:+.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(gap[i, j]) > 0.6 * limit else "black")
    ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=9)
    fig.colorbar(image, ax=ax, label="gap to retrain")
    ax.set_title(f"Gap to the reference ({_subtitle(report)})", fontsize=9)
    return _save(fig, path)


def plot_representation_map(report: Mapping[str, Any], path: Path) -> Path:
    """2-D PCA of each model's test-set representations; the forgotten class drawn on top in black.

    A model whose details name transformation classes (FUCRT) shows them in its panel's title.
    """
    rep = report["representation_map"]
    labels = np.array(rep["labels"])
    names = list(rep["models"])
    forget_class = report["request"].get("forget_class")
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols + 1.2, 3.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        coords = np.array(rep["models"][name])
        forgotten = labels == forget_class
        ax.scatter(coords[~forgotten, 0], coords[~forgotten, 1], c=cmap(labels[~forgotten] % cmap.N), s=6, alpha=0.6)
        ax.scatter(coords[forgotten, 0], coords[forgotten, 1], c="black", marker="x", s=14)
        details = (report["models"][name].get("details") or {}).get(str(rep["seed"])) or {}
        title = name if len(name) <= 34 else name[:32] + "..."
        if "transformation_classes" in details:
            title += f"\n{forget_class} -> {details['transformation_classes']}"
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(c % cmap.N), label=str(c))
               for c in np.unique(labels) if c != forget_class]
    handles.append(plt.Line2D([], [], marker="x", ls="", color="black", label=f"{forget_class} (forgotten)"))
    fig.legend(handles=handles, loc="center right", fontsize=7, title="test class", title_fontsize=7)
    fig.suptitle(f"Test representations, PCA per model (seed {rep['seed']}); {_subtitle(report)}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 1.0 / (3.3 * cols + 1.2), 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_unlearning_curves(report: Mapping[str, Any], path: Path) -> Path:
    """forget_acc and test_acc after each unlearning round, per method; dashed: the reference's level."""
    models = report["models"]
    reference = report["per_seed"][str(report["seeds"][0])]["retrain"]["metrics"]  # the curves are seed 0's
    keys = [k for k in ("forget_acc", "test_forget_acc", "test_acc") if reference.get(k) is not None]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, entry in models.items():
            points = [(h["round"], h[key]) for h in entry.get("history", []) if key in h]
            if points:
                ax.plot(*zip(*points), marker="o", ms=3, label=name)
        ax.axhline(reference[key], ls="--", color="gray", label="retrain")
        ax.set(title=key, xlabel="unlearning round", ylim=(-0.03, 1.03))
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"During unlearning (seed {report['seeds'][0]}); {_subtitle(report)}", fontsize=9)
    return _save(fig, path)


def write_plots(report: Mapping[str, Any], folder: Path) -> dict[str, Path]:
    """Every plot of the report, by title."""
    plots = {
        "Per-class test accuracy": plot_per_class(report, folder / "per_class.png"),
        "Gap to the reference": plot_gap_heatmap(report, folder / "gap_heatmap.png"),
        "Unlearning curves": plot_unlearning_curves(report, folder / "unlearning_curves.png"),
    }
    if report.get("representation_map"):
        plots["Representation map"] = plot_representation_map(report, folder / "representation_map.png")
    return plots


def write_benchmark_plot(reports: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """Per scenario, each method's avg_gap to the reference (left, lower is better) and speedup in client
    trainings (right); error bars: half-width of the 95% interval over seeds."""
    scenarios = list(reports)
    methods = sorted({m for r in reports.values() for m in r["models"] if m not in ("original", "retrain")})
    fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 1.2 * len(scenarios) * 2), 4.2))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(scenarios))
    for ax, key, label in ((axes[0], "avg_gap", "avg_gap to the reference\n(privacy term: rmia_auc where the original leaks)"),
                           (axes[1], "speedup.client_rounds", "speedup (client trainings)")):
        for i, method in enumerate(methods):
            means, errors = [], []
            for s in scenarios:
                stats = reports[s]["models"].get(method, {}).get("stats", {}).get(key) or {}
                means.append(np.nan if stats.get("mean") is None else stats["mean"])
                ci = stats.get("ci95")
                errors.append(0.0 if not ci else (ci[1] - ci[0]) / 2)
            ax.bar(x + (i - (len(methods) - 1) / 2) * width, means, width, yerr=errors, capsize=2, label=method)
        ax.set_xticks(x, scenarios, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=7, ncol=2)
    return _save(fig, path)
