"""Backdoor verification of deletion: a trigger patch planted in one client's data.

A fraction of client k's training samples get a fixed trigger (a bright square in the bottom-right
corner) and the target label. The original model learns the backdoor; a model retrained without
client k does not; a good unlearning method falls back to the reference's attack success rate (ASR).
"""

from __future__ import annotations

import numpy as np


def trigger_size(shape: tuple[int, ...]) -> int:
    """Side of the square trigger: 2 pixels for 8x8 images, 3 for 28x28, 4 for 32x32."""
    return max(2, min(shape[-2:]) // 8)


def add_trigger(x: np.ndarray) -> np.ndarray:
    """A copy of images ``x`` (N, C, H, W) with the trigger set to the brightest value of the batch."""
    out = np.array(x, copy=True)
    side = trigger_size(x.shape)
    out[..., -side:, -side:] = max(1.0, float(x.max()) if x.size else 1.0)
    return out


def poisoned_indices(held: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded ``fraction`` of the indices ``held`` (at least one when any are held)."""
    if len(held) == 0:
        return held
    n = max(1, int(round(fraction * len(held))))
    return np.sort(np.random.default_rng(seed).choice(held, n, replace=False))


def attack_success_rate(predictions: np.ndarray, labels: np.ndarray, target: int) -> float | None:
    """Share of triggered inputs whose true class is not ``target`` that the model classifies as ``target``."""
    mask = np.asarray(labels) != target
    return float(np.mean(np.asarray(predictions)[mask] == target)) if mask.any() else None
