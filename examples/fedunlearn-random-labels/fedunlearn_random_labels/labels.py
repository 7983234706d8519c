"""The algorithm, a pure function: which label each forgotten sample is trained toward."""

from __future__ import annotations

import numpy as np


def random_other_labels(labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """For each label, a label drawn uniformly from the other ``num_classes - 1`` classes (seeded)."""
    rng = np.random.default_rng(seed)
    shift = rng.integers(1, num_classes, size=len(labels))  # 1..num_classes-1: never the label itself
    return (np.asarray(labels) + shift) % num_classes
