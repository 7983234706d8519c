import time

import numpy as np
import pytest

from fedunlearn.config import ConfigError, validate
from fedunlearn.data import load_dataset, synthetic


def test_digits_split_is_fixed_stratified_and_scaled():
    data = load_dataset(validate({}))
    assert data.x_train.shape == (1437, 1, 8, 8) and data.x_test.shape == (360, 1, 8, 8)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.num_classes == 10
    # Stratified: every class has 17 to 19 test samples (~20% of its ~180).
    assert set(np.bincount(data.y_test)) <= {34, 35, 36, 37}
    again = load_dataset(validate({"seed": 7}))  # the split does not depend on the experiment seed
    assert np.array_equal(again.y_test, data.y_test)


def test_synthetic_data_is_balanced_and_class_structured():
    x, y = synthetic(300, 3, (1, 4, 4), seed=0)
    assert x.shape == (300, 1, 4, 4) and list(np.bincount(y)) == [100, 100, 100]
    flat = x.reshape(300, -1)
    means = np.stack([flat[y == c].mean(0) for c in range(3)])
    nearest = np.argmin(((flat[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == y) > 0.9  # samples lie nearest their own class mean


def test_npz_with_own_test_split(tmp_path):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.integers(0, 256, (50, 6, 6), dtype=np.uint8), y=np.arange(50) % 5,
             x_test=rng.integers(0, 256, (10, 6, 6), dtype=np.uint8), y_test=np.arange(10) % 5)
    data = load_dataset(validate({"dataset": "npz", "data-path": str(path)}))
    assert data.x_train.shape == (50, 1, 6, 6) and data.x_test.shape == (10, 1, 6, 6)
    assert data.x_train.max() <= 1.0 and data.num_classes == 5


def test_npz_errors_name_the_file(tmp_path):
    missing_y = tmp_path / "no_y.npz"
    np.savez(missing_y, x=np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="has no array 'y'"):
        load_dataset(validate({"dataset": "npz", "data-path": str(missing_y)}))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=np.array([{"a": 1}] * 4, dtype=object), y=np.zeros(4))
    with pytest.raises(ConfigError, match="pickled.npz"):
        load_dataset(validate({"dataset": "npz", "data-path": str(pickled)}))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load_dataset(validate({"dataset": "npz", "data-path": str(garbage)}))


def test_hub_dataset_offline_is_a_clear_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_dataset(validate({"dataset": "mnist"}))
    assert "dataset = 'mnist'" in str(err.value) and "npz" in str(err.value)
    assert time.monotonic() - start < 60


def test_long_tailed_keeps_a_geometric_share_per_class():
    from fedunlearn.data import long_tailed

    y = np.repeat(np.arange(3), 100)  # 100 samples of each of 3 classes
    kept = long_tailed(y, 3, ratio=4.0)
    assert np.bincount(y[kept]).tolist() == [100, 50, 25]  # 4 ** 0, 4 ** -0.5, 4 ** -1
    assert np.array_equal(kept, long_tailed(y, 3, ratio=4.0)) and np.all(np.diff(kept) > 0)
    assert np.bincount(y[long_tailed(y, 3, ratio=1000.0)]).tolist() == [100, 3, 1]  # at least one each


def test_class_imbalance_shrinks_the_training_split_only():
    from fedunlearn.config import validate
    from fedunlearn.data import load_dataset

    balanced = load_dataset(validate({}))
    skewed = load_dataset(validate({"class-imbalance": 10.0}))
    counts = np.bincount(skewed.y_train)
    assert counts[0] == np.bincount(balanced.y_train)[0] and counts[9] <= counts[0] / 9
    assert np.all(np.diff(counts) <= 1)  # non-increasing, up to rounding between near-equal classes
    assert np.array_equal(skewed.y_test, balanced.y_test)
