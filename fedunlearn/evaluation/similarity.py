"""How close a model is to the reference: output distributions (KL) and representations (linear CKA)."""

from __future__ import annotations

import numpy as np

EPS = 1e-12


def mean_kl(p_reference: np.ndarray, p_model: np.ndarray) -> float | None:
    """Mean over samples of KL(reference || model) = sum_k p_ref log(p_ref / p_model), in nats."""
    if len(p_reference) == 0:
        return None
    p = np.clip(np.asarray(p_reference, np.float64), EPS, 1.0)
    q = np.clip(np.asarray(p_model, np.float64), EPS, 1.0)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


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
