"""Plots of a report (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_per_class(report: Mapping[str, Any], path: Path) -> Path:
    """Per-class test accuracy: one group of bars per class, one bar per model; the forgotten class marked."""
    models = report["models"]
    names = list(models)
    per_class = np.array([[np.nan if a is None else a for a in models[n]["metrics"]["per_class_acc"]] for n in names])
    num_classes = per_class.shape[1]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * num_classes * max(1, len(names) / 2)), 3.8))
    for i, name in enumerate(names):
        ax.bar(np.arange(num_classes) + (i - (len(names) - 1) / 2) * width, per_class[i], width, label=name)
    forget_class = report["request"].get("forget_class")
    if forget_class is not None:
        ax.axvspan(forget_class - 0.45, forget_class + 0.45, color="red", alpha=0.08, zorder=0)
        ax.annotate("forgotten", (forget_class, 1.02), ha="center", color="red", fontsize=8)
    ax.set_xticks(range(num_classes))
    ax.set_xlabel("class")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.08)
    cfg = report["experiment"]
    ax.set_title(f"{cfg['name']}: {cfg['dataset']}, {cfg['model']}, seed {cfg['seed']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="model", title_fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
