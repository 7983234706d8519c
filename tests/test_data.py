import time

import numpy as np
import pytest

from fedunlearn.config import ConfigError, validate
from fedunlearn.data.datasets import load_dataset, synthetic


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
    assert "dataset = 'mnist'" in str(err.value) and "data-path" in str(err.value) and "hub" in str(err.value)
    assert time.monotonic() - start < 60


# MNIST-format IDX files, written by the tests.

def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_set(folder, n_train=30, n_test=10, size=6, gz=True, prefix=""):
    import gzip

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 3,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size)),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 3}
    for name, array in arrays.items():
        data = _idx_bytes(array)
        (folder / f"{prefix}{name}{'.gz' if gz else ''}").write_bytes(gzip.compress(data) if gz else data)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_loads_gzipped_or_plain(tmp_path, gz):
    arrays = _write_idx_set(tmp_path / "idx", gz=gz)
    data = load_dataset(validate({"dataset": "idx", "data-path": str(tmp_path / "idx")}))
    assert data.x_train.shape == (30, 1, 6, 6) and data.x_test.shape == (10, 1, 6, 6)
    assert data.x_train.dtype == np.float32 and data.num_classes == 3
    assert np.allclose(data.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"])
    assert data.y_test.tolist() == (np.arange(10) % 3).tolist()


def test_fashion_mnist_reads_a_data_path_folder_and_names_emnist_style_files(tmp_path):
    _write_idx_set(tmp_path / "mine", prefix="")
    data = load_dataset(validate({"dataset": "fashion_mnist", "data-path": str(tmp_path / "mine")}))
    assert data.name == "fashion_mnist" and len(data.y_train) == 30
    _write_idx_set(tmp_path / "emnist", prefix="emnist-digits-", n_train=12)
    (tmp_path / "emnist" / "emnist-digits-t10k-images-idx3-ubyte.gz").rename(
        tmp_path / "emnist" / "emnist-digits-test-images-idx3-ubyte.gz")
    (tmp_path / "emnist" / "emnist-digits-t10k-labels-idx1-ubyte.gz").rename(
        tmp_path / "emnist" / "emnist-digits-test-labels-idx1-ubyte.gz")
    assert len(load_dataset(validate({"dataset": "idx", "data-path": str(tmp_path / "emnist")})).y_train) == 12


def test_idx_errors_name_the_file(tmp_path):
    from fedunlearn.data.datasets import load_idx_folder, read_idx

    folder = tmp_path / "bad"
    _write_idx_set(folder, gz=False)
    images = folder / "train-images-idx3-ubyte"
    whole = images.read_bytes()
    images.write_bytes(whole[:-7])  # truncated
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte.*truncated or corrupt"):
        load_idx_folder(folder, "idx")
    images.write_bytes(b"\x00\x01" + whole[2:])  # wrong magic number
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte.*wrong magic number 00010803"):
        read_idx(images)
    images.write_bytes(whole)
    labels = folder / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.zeros(29)))  # one label short
    with pytest.raises(ConfigError, match=r"train-labels-idx1-ubyte.*29 labels for 30 images"):
        load_idx_folder(folder, "idx")
    gz = tmp_path / "x-idx1-ubyte.gz"
    import gzip

    gz.write_bytes(gzip.compress(_idx_bytes(np.zeros(5)))[:-9])  # a cut gzip stream
    with pytest.raises(ConfigError, match=r"x-idx1-ubyte.gz.*cannot be read"):
        read_idx(gz)
    (folder / "copy-train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(30)))
    with pytest.raises(ConfigError, match=r"2 files .* for the train-labels"):
        load_idx_folder(folder, "idx")
    with pytest.raises(ConfigError, match="no such folder"):
        load_idx_folder(tmp_path / "nowhere", "idx")


def test_idx_needs_a_data_path():
    with pytest.raises(ConfigError, match="data-path = '': dataset 'idx' needs a folder"):
        validate({"dataset": "idx"})


def test_missing_fashion_mnist_names_the_three_ways_to_get_it(monkeypatch, tmp_path):
    from fedunlearn.strategies.validation import check_experiment

    from fedunlearn.data import datasets as data_module

    monkeypatch.setitem(data_module.LOCAL_IDX_FOLDERS, "fashion_mnist", (str(tmp_path / "absent"),))
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        check_experiment({"dataset": "fashion_mnist", "model": "lenet5"})
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message and "data-path" in message and "hub" in message
    assert "\n" not in message and time.monotonic() - start < 60


def test_corrupt_idx_is_refused_before_anything_runs(tmp_path, capsys):
    from fedunlearn.cli import main

    folder = tmp_path / "fm"
    _write_idx_set(folder, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (12).to_bytes(4, "big") + bytes(10))
    code = main(["run", "--run-config", f"dataset='fashion_mnist' data-path='{folder}' model='mlp' num-clients=2",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "t10k-labels-idx1-ubyte" in err[0] and not (tmp_path / "out").exists()


def test_each_process_parses_the_files_once(tmp_path, monkeypatch):
    from fedunlearn.data import datasets as data_module

    _write_idx_set(tmp_path / "once")
    calls = []
    real = data_module.read_idx
    monkeypatch.setattr(data_module, "read_idx", lambda path: calls.append(path) or real(path))
    config = validate({"dataset": "idx", "data-path": str(tmp_path / "once"), "seed": 3})
    load_dataset(config)
    load_dataset({**config, "seed": 4})  # another experiment on the same files
    assert len(calls) == 4  # the four files, once


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package_without_configuration():
    data = load_dataset(validate({"dataset": "fashion_mnist"}))
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert np.bincount(data.y_test).tolist() == [1000] * 10 and data.y_train[:3].tolist() == [9, 0, 0]


def test_long_tailed_keeps_a_geometric_share_per_class():
    from fedunlearn.data.datasets import long_tailed

    y = np.repeat(np.arange(3), 100)  # 100 samples of each of 3 classes
    kept = long_tailed(y, 3, ratio=4.0)
    assert np.bincount(y[kept]).tolist() == [100, 50, 25]  # 4 ** 0, 4 ** -0.5, 4 ** -1
    assert np.array_equal(kept, long_tailed(y, 3, ratio=4.0)) and np.all(np.diff(kept) > 0)
    assert np.bincount(y[long_tailed(y, 3, ratio=1000.0)]).tolist() == [100, 3, 1]  # at least one each


def test_class_imbalance_shrinks_the_training_split_only():
    from fedunlearn.config import validate
    from fedunlearn.data.datasets import load_dataset

    balanced = load_dataset(validate({}))
    skewed = load_dataset(validate({"class-imbalance": 10.0}))
    counts = np.bincount(skewed.y_train)
    assert counts[0] == np.bincount(balanced.y_train)[0] and counts[9] <= counts[0] / 9
    assert np.all(np.diff(counts) <= 1)  # non-increasing, up to rounding between near-equal classes
    assert np.array_equal(skewed.y_test, balanced.y_test)


def test_a_test_fraction_too_small_for_a_stratified_split_is_refused_in_one_line():
    from fedunlearn.strategies.validation import check_experiment

    from fedunlearn.config import ConfigError

    # digits: 1,797 samples of 10 classes; 0.004 leaves ceil(7.19) = 8 test samples, fewer than the classes.
    with pytest.raises(ConfigError, match=r"^test-fraction = 0.004: splits digits's 1797 samples into 1789 training "
                                          r"and 8 test samples; the stratified split needs at least one of each of its "
                                          r"10 classes on both sides$"):
        check_experiment({"test-fraction": 0.004})
    assert check_experiment({"test-fraction": 0.006})["test-fraction"] == 0.006  # 11 test samples: enough


def test_the_test_split_halves_are_disjoint_cover_it_and_keep_each_class_share():
    from fedunlearn.data.datasets import test_half_indices

    labels = np.repeat(np.arange(3), [10, 7, 4])
    validation, report = test_half_indices(labels, "validation"), test_half_indices(labels, "report")
    assert len(np.intersect1d(validation, report)) == 0
    assert np.array_equal(np.union1d(validation, report), np.arange(len(labels)))
    assert np.bincount(labels[validation]).tolist() == [5, 3, 2]  # each class halved (the odd one to 'report')
    assert np.array_equal(test_half_indices(labels, "validation"), validation)  # fixed, not drawn per call
    assert np.array_equal(test_half_indices(labels, ""), np.arange(len(labels)))


def test_train_samples_keeps_a_fixed_subset_nested_in_any_larger_one():
    from fedunlearn.data.datasets import subset_indices

    small, large = subset_indices(100, 10), subset_indices(100, 30)
    assert len(small) == 10 and len(set(small)) == 10 and set(small) <= set(large)
    assert np.array_equal(small, subset_indices(100, 10))


def test_more_training_samples_than_the_data_set_has_is_refused_by_name():
    config = validate({"dataset": "synthetic", "synthetic-samples": 100, "test-fraction": 0.2, "train-samples": 81})
    with pytest.raises(ConfigError, match=r"train-samples = 81: synthetic has 80 training samples"):
        load_dataset(config)
    assert len(load_dataset({**config, "train-samples": 30}).y_train) == 30
