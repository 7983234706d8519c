"""How close a model is to the reference: output distributions (KL, its median, Jensen-Shannon) and representations
(linear CKA)."""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def mean_kl(p_reference: np.ndarray, p_model: np.ndarray) -> float | None:
    """Mean over samples of KL(reference || model) = sum_k p_ref log(p_ref / p_model), in nats."""
    return float(np.mean(kl_rows(p_reference, p_model))) if len(p_reference) else None


def kl_rows(p_reference: np.ndarray, p_model: np.ndarray) -> np.ndarray:
    """Per sample KL(reference || model) in nats (probabilities floored at 1e-12: a saturated sample reaches ~27)."""
    p = np.clip(np.asarray(p_reference, np.float64), EPS, 1.0)
    q = np.clip(np.asarray(p_model, np.float64), EPS, 1.0)
    return np.sum(p * (np.log(p) - np.log(q)), axis=1)


def median_kl(p_reference: np.ndarray, p_model: np.ndarray) -> float | None:
    """Median over samples of KL(reference || model): what a typical sample sees, which a few saturated ones cannot
    move (the mean can be dominated by them)."""
    return float(np.median(kl_rows(p_reference, p_model))) if len(p_reference) else None


def mean_js(p_reference: np.ndarray, p_model: np.ndarray) -> float | None:
    """Mean over samples of the Jensen-Shannon divergence, (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2, in
    nats: symmetric and bounded by ln 2 = 0.693 per sample, so no sample weighs more than that."""
    if len(p_reference) == 0:
        return None
    p = np.asarray(p_reference, np.float64)
    q = np.asarray(p_model, np.float64)
    m = (p + q) / 2

    def kl_to_m(a: np.ndarray) -> np.ndarray:
        return np.sum(np.where(a > 0, a * (np.log(np.where(a > 0, a, 1.0)) - np.log(np.where(a > 0, m, 1.0))), 0.0),
                      axis=1)

    return float(np.mean((kl_to_m(p) + kl_to_m(q)) / 2))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float | None:
    """Linear CKA (Kornblith et al., 2019) between two representations of the same samples.

    ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) with column-centred Xc, Yc: 1 for identical
    representations and for any orthogonal transform or isotropic scaling of them, near 0 for
    independent ones. Feature widths may differ.
    """
    if len(x) < 2:
        return None
    xc = np.asarray(x, np.float64) - np.mean(x, axis=0)
    yc = np.asarray(y, np.float64) - np.mean(y, axis=0)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    norm = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    return float(cross / norm) if norm > 0 else None
