"""Data sets: the embedded digits, synthetic class-structured data, hub data sets and ``.npz`` files.

Every loader returns a :class:`DataSet` of float32 images shaped (N, C, H, W) and int64 labels, with
a train split (to be partitioned over clients) and a test split (kept by the server's evaluator).
Splits and synthetic data use a fixed generator (:data:`DATA_SEED`), independent of the experiment's
``seed``: different seeds change the model initialisation, the partition and the training, while the
test set every number is measured on stays the same.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .config import ConfigError

DATA_SEED = 12345

# Hub data sets: flwr-datasets name, image column, shape, classes, training samples.
HUB_DATASETS: dict[str, dict[str, Any]] = {
    "mnist": {"hub": "ylecun/mnist", "image": "image", "shape": (1, 28, 28), "classes": 10, "train": 60000},
    "fashion_mnist": {
        "hub": "zalando-datasets/fashion_mnist", "image": "image", "shape": (1, 28, 28), "classes": 10, "train": 60000,
    },
    "cifar10": {"hub": "uoft-cs/cifar10", "image": "img", "shape": (3, 32, 32), "classes": 10, "train": 50000},
}


@dataclass(frozen=True, eq=False)
class DataSet:
    """A labelled data set split into train (partitioned over clients) and test (server-side)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


DATA_KEYS = ("dataset", "data-path", "test-fraction", "synthetic-samples", "synthetic-classes", "synthetic-shape")


def data_key(config: Mapping[str, Any]) -> tuple:
    """The configuration values that determine the data set (a cache key)."""
    return tuple(config[k] for k in DATA_KEYS)


def load_dataset(config: Mapping[str, Any]) -> DataSet:
    """Load the data set named by ``config['dataset']`` (cached per process), with a long-tailed
    training split when ``class-imbalance`` > 1."""
    return _imbalanced(data_key(config), config.get("class-imbalance", 1.0))


def long_tailed(y: np.ndarray, num_classes: int, ratio: float) -> np.ndarray:
    """Sorted indices of a long-tailed subset of labels ``y`` (the GENIU setting).

    Class ``c`` keeps ``round(n_c * ratio ** (-c / (num_classes - 1)))`` of its ``n_c`` samples (at least
    one): class 0 keeps all and is the majority, the last class keeps a ``1 / ratio`` share. Which
    samples are kept is a fixed shuffle, the same in every run.
    """
    rng = np.random.default_rng(DATA_SEED)
    keep = []
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        share = ratio ** (-c / max(1, num_classes - 1))
        keep.append(rng.permutation(members)[:max(1, round(len(members) * share))] if len(members) else members)
    return np.sort(np.concatenate(keep))


@functools.lru_cache(maxsize=4)
def _imbalanced(key: tuple, ratio: float) -> DataSet:
    data = _load_cached(key)
    if ratio <= 1.0:
        return data
    kept = long_tailed(data.y_train, data.num_classes, ratio)
    return DataSet(data.name, data.x_train[kept], data.y_train[kept], data.x_test, data.y_test, data.num_classes)


@functools.lru_cache(maxsize=4)
def _load_cached(key: tuple) -> DataSet:
    name, data_path, test_fraction, n_samples, n_classes, shape = key
    if name == "digits":
        x, y = _digits()
        return _split(name, x, y, test_fraction)
    if name == "synthetic":
        dims = tuple(int(d) for d in shape.split(","))
        x, y = synthetic(n_samples, n_classes, dims, seed=DATA_SEED)
        return _split(name, x, y, test_fraction)
    if name == "npz":
        return _npz(Path(data_path), test_fraction)
    return _hub(name)


def describe(config: Mapping[str, Any]) -> tuple[int, int]:
    """(number of classes, number of training samples) without loading hub data.

    Used to validate a configuration before anything expensive starts.
    """
    name = config["dataset"]
    if name in HUB_DATASETS:
        meta = HUB_DATASETS[name]
        return meta["classes"], meta["train"]
    data = load_dataset(config)
    return data.num_classes, len(data.y_train)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    return x, digits.target.astype(np.int64)


def synthetic(n_samples: int, n_classes: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-structured data: each class is a Gaussian blob around its own random mean pattern.

    Labels cycle through the classes so every class has ``n_samples // n_classes`` samples (give or
    take one). The class means are spread so that a small model separates most but not all samples.
    """
    rng = np.random.default_rng(seed)
    dim = int(np.prod(shape))
    means = rng.normal(0.0, 1.0, size=(n_classes, dim)).astype(np.float32)
    y = np.arange(n_samples, dtype=np.int64) % n_classes
    rng.shuffle(y)
    x = means[y] + rng.normal(0.0, 1.5, size=(n_samples, dim)).astype(np.float32)
    return x.reshape((n_samples, *shape)), y


def _split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float) -> DataSet:
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=DATA_SEED, stratify=y
    )
    return DataSet(name, x_train, y_train, x_test, y_test, int(y.max()) + 1)


def _npz(path: Path, test_fraction: float) -> DataSet:
    """Arrays ``x`` (N, ...) and ``y`` (N,); optional ``x_test``/``y_test``, else a stratified split."""
    if not path.is_file():
        raise ConfigError(f"data-path = {str(path)!r}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # a corrupt or foreign file: numpy raises several types
        raise ConfigError(f"data-path = {str(path)!r}: not a readable .npz file ({exc})") from None
    for k in ("x", "y"):
        if k not in arrays:
            raise ConfigError(f"data-path = {str(path)!r}: has no array {k!r} (found: {', '.join(arrays)})")
    x, y = _as_images(arrays["x"]), arrays["y"].astype(np.int64)
    if len(x) != len(y):
        raise ConfigError(f"data-path = {str(path)!r}: x has {len(x)} samples but y has {len(y)}")
    if "x_test" in arrays and "y_test" in arrays:
        x_test, y_test = _as_images(arrays["x_test"]), arrays["y_test"].astype(np.int64)
        num_classes = int(max(y.max(), y_test.max())) + 1
        return DataSet("npz", x, y, x_test, y_test, num_classes)
    return _split("npz", x, y, test_fraction)


def _as_images(x: np.ndarray) -> np.ndarray:
    """float32 (N, C, H, W): integer images are scaled to [0, 1]; (N, H, W) gains a channel axis;
    (N, H, W, C) with C in (1, 3) becomes channels first; (N, D) stays a flat feature vector (N, 1, 1, D)."""
    scale = 255.0 if np.issubdtype(x.dtype, np.integer) else 1.0
    x = x.astype(np.float32) / scale
    if x.ndim == 2:
        return x[:, None, None, :]
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def _hub(name: str) -> DataSet:
    """A data set from the Hugging Face hub through flwr-datasets (needs a network or a filled cache)."""
    from flwr_datasets import FederatedDataset
    from flwr_datasets.partitioner import IidPartitioner

    meta = HUB_DATASETS[name]
    try:
        fds = FederatedDataset(dataset=meta["hub"], partitioners={"train": IidPartitioner(1)})
        splits = {split: fds.load_split(split).with_format("numpy") for split in ("train", "test")}
    except Exception as exc:  # network, hub and cache errors come in many types
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        raise ConfigError(
            f"dataset = {name!r}: could not load {meta['hub']!r} from the Hugging Face hub"
            f"{' (HF_HUB_OFFLINE=1)' if offline else ''}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}; "
            f"offline, save the arrays as .npz (x, y, x_test, y_test) and use dataset = 'npz' with data-path"
        ) from None
    x_train = _as_images(np.asarray(splits["train"][meta["image"]]))
    x_test = _as_images(np.asarray(splits["test"][meta["image"]]))
    y_train = np.asarray(splits["train"]["label"], dtype=np.int64)
    y_test = np.asarray(splits["test"]["label"], dtype=np.int64)
    return DataSet(name, x_train, y_train, x_test, y_test, meta["classes"])
