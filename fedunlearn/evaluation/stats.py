"""Statistics over seeds: mean, standard deviation, 95% confidence interval, and the verdict.

The interval is Student's t-interval of the mean over seeds, truncated to the range the quantity can take
(an accuracy to [0, 1], a gap between two accuracies to [-1, 1]). With 5 to 10 seeds a bootstrap has too
few distinct resamples to cover (126 for 5 seeds), and a transformed scale (logit) is undefined at the
bounds where these metrics often sit; the t-interval is exact for normal data, and truncating it removes
only values the mean cannot take, so its coverage is unchanged. A quantity at the same bound on every seed
is reported as that count (``at_bound``: "5/5 seeds at 0"), with no interval: a zero-width interval would
claim a precision the seeds do not give.

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


def summary(values: Sequence[float | None], bounds: tuple[float, float] | None = None) -> dict | None:
    """mean, std (ddof=1), 95% t-interval (truncated to ``bounds``) and n of the values that are not None;
    None if there are none. Values all at one of ``bounds`` give ``at_bound`` (that bound) and no interval."""
    xs = np.array([v for v in values if v is not None], dtype=np.float64)
    if len(xs) == 0:
        return None
    mean = float(xs.mean())
    if len(xs) == 1:
        return {"mean": mean, "std": None, "ci95": None, "n": 1}
    std = float(xs.std(ddof=1))
    if bounds is not None and any(bool(np.all(xs == b)) for b in bounds):
        return {"mean": mean, "std": 0.0, "ci95": None, "n": int(len(xs)), "at_bound": float(xs[0])}
    half = float(scipy_stats.t.ppf(0.975, len(xs) - 1)) * std / math.sqrt(len(xs))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "std": std, "ci95": [low, high], "n": int(len(xs))}


def interval_text(stats: Mapping | None, digits: int = 3, sep: str = "") -> str:
    """How a page shows a summary's spread after its mean: `` ±h`` for a full t-interval, `` [low, high]``
    for one truncated at a bound, `` (n/n seeds at b)`` for values all at a bound, nothing for one seed."""
    if not stats:
        return ""
    if stats.get("at_bound") is not None:
        return f" ({stats['n']}/{stats['n']} seeds at {stats['at_bound']:g})"
    if not stats.get("ci95"):
        return ""
    low, high = stats["ci95"]
    if abs((stats["mean"] - low) - (high - stats["mean"])) <= 1e-9 * max(1.0, abs(high - low)):
        return f" ±{sep}{(high - low) / 2:.{digits}f}"
    return f" [{low:.{digits}f}, {high:.{digits}f}]"


def holm(p_values: Mapping[str, float], alpha: float = 0.05) -> dict[str, bool]:
    """Holm's step-down correction: which hypotheses are rejected at family-wise level ``alpha``. The i-th
    smallest p-value (i from 0) is compared with alpha / (m - i); testing stops at the first that fails."""
    order = sorted(p_values, key=lambda k: p_values[k])
    rejected, m = {k: False for k in p_values}, len(p_values)
    for i, key in enumerate(order):
        if p_values[key] > alpha / (m - i):
            break
        rejected[key] = True
    return rejected


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
