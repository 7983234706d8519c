"""Statistics over seeds: mean, standard deviation, 95% confidence interval, and the verdict.

The verdict is an equivalence test against the reference: a method is *within* tolerance on a metric
when the 95% interval of its gap (paired by seed) lies inside [-tol, +tol], *differs* when the interval
lies entirely outside it, and is *inconclusive* otherwise. With one seed there is no interval and the
point gap is compared with the tolerance.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats


def summary(values: Sequence[float | None]) -> dict | None:
    """mean, std (ddof=1), 95% t-interval and n of the values that are not None; None if there are none."""
    xs = np.array([v for v in values if v is not None], dtype=np.float64)
    if len(xs) == 0:
        return None
    mean = float(xs.mean())
    if len(xs) == 1:
        return {"mean": mean, "std": None, "ci95": None, "n": 1}
    std = float(xs.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.975, len(xs) - 1)) * std / math.sqrt(len(xs))
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": int(len(xs))}


def metric_verdict(gap: Mapping | None, tolerance: float) -> str | None:
    """``within``, ``differs`` or ``inconclusive`` for one metric's gap summary (None if no gap)."""
    if gap is None:
        return None
    low, high = gap["ci95"] if gap["ci95"] is not None else (gap["mean"], gap["mean"])
    if -tolerance <= low and high <= tolerance:
        return "within"
    if high < -tolerance or low > tolerance:
        return "differs"
    return "inconclusive"


def overall_verdict(per_metric: Mapping[str, str | None], seeds: int) -> str:
    """One sentence: indistinguishable from retrain on these metrics, or which metrics differ."""
    differs = [m for m, v in per_metric.items() if v == "differs"]
    unclear = [m for m, v in per_metric.items() if v == "inconclusive"]
    if not differs and not unclear:
        text = "indistinguishable from retrain on these metrics"
    else:
        parts = []
        if differs:
            parts.append("differs from retrain on " + ", ".join(differs))
        if unclear:
            parts.append("inconclusive on " + ", ".join(unclear))
        text = "; ".join(parts)
    return text + (" (single seed: no interval)" if seeds == 1 else f" ({seeds} seeds, 95% intervals)")
