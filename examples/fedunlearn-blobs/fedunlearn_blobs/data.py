"""``dataset = "blobs"``: ten Gaussian blobs in 16 dimensions, made by scikit-learn (nothing to download)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_blobs

from fedunlearn.data.datasets import DataOptions, DataSet, stratified_split

SAMPLES, CLASSES, FEATURES = 3000, 10, 16


def blobs(options: DataOptions) -> DataSet:
    """scikit-learn's make_blobs: 3,000 samples of 16 features (1x1x16) in 10 classes."""
    x, y = make_blobs(n_samples=SAMPLES, centers=CLASSES, n_features=FEATURES, cluster_std=4.0, random_state=0)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)[:, None, None, :]
    return stratified_split(options.name, x, y.astype(np.int64), options.test_fraction)
