"""Data sets: the embedded digits, synthetic class-structured data, MNIST-format IDX files on disk, hub
data sets and ``.npz`` files.

Every loader returns a :class:`DataSet` of float32 images shaped (N, C, H, W) and int64 labels, with
a train split (to be partitioned over clients) and a test split (kept by the server's evaluator).

Data sets are registered by name in :data:`DATASETS` (``dataset = "<name>"``): the built-ins below by decorator,
a data set of one's own from an installed package through the entry point group ``fedunlearn.datasets``, naming a
function that takes the :class:`DataOptions` and returns a :class:`DataSet` (:func:`stratified_split` makes the
project's train/test split of arrays x and y). ``fedunlearn datasets`` lists them.
Splits and synthetic data use a fixed generator (:data:`DATA_SEED`), independent of the experiment's
``seed``: different seeds change the model initialisation, the partition and the training, while the
test set every number is measured on stays the same.
"""

from __future__ import annotations

import functools
import gzip
import os
import socket
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from fedunlearn.config import ConfigError
from fedunlearn.data import arraycache
from fedunlearn.runtime.plugins import Registry

DATA_SEED = 12345

# Where Fashion-MNIST's IDX files are found without configuration: Debian's dataset-fashion-mnist package.
LOCAL_IDX_FOLDERS: dict[str, tuple[str, ...]] = {"fashion_mnist": ("/usr/share/datasets/fashion-mnist",)}

# Hub data sets: flwr-datasets name, image column, classes.
HUB_DATASETS: dict[str, dict[str, Any]] = {
    "mnist": {"hub": "ylecun/mnist", "image": "image", "classes": 10},
    "fashion_mnist": {"hub": "zalando-datasets/fashion_mnist", "image": "image", "classes": 10},
    "cifar10": {"hub": "uoft-cs/cifar10", "image": "img", "classes": 10},
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


@dataclass(frozen=True)
class DataOptions:
    """What a data set's loader is given: the configuration keys that determine the data (:data:`DATA_KEYS`)."""

    name: str
    data_path: str
    test_fraction: float
    synthetic_samples: int
    synthetic_classes: int
    synthetic_shape: str


DATASETS = Registry("dataset", "fedunlearn.datasets", accepts=callable,
                    wants="a function taking fedunlearn.data.datasets.DataOptions and returning a DataSet")


def data_key(config: Mapping[str, Any]) -> tuple:
    """The configuration values that determine the data set (a cache key)."""
    return tuple(config[k] for k in DATA_KEYS)


def load_dataset(config: Mapping[str, Any]) -> DataSet:
    """Load the data set named by ``config['dataset']`` (cached per process), with a long-tailed
    training split when ``class-imbalance`` > 1, and only ``train-samples`` of its training samples when that is > 0."""
    data = _imbalanced(data_key(config), config.get("class-imbalance", 1.0))
    wanted = config.get("train-samples", 0)
    if not wanted:
        return data
    if wanted > len(data.y_train):
        raise ConfigError(f"train-samples = {wanted}: {data.name} has {len(data.y_train)} training samples; "
                          f"allowed: 1 to {len(data.y_train)}, or 0 for all")
    return _subset(data, wanted)


TEST_HALVES = ("validation", "report")


def test_half_indices(labels: np.ndarray, half: str) -> np.ndarray:
    """Sorted indices of one half of the test split (``test-half``): each class's test samples in a fixed random
    order, the first half of them ``validation``, the rest ``report``; ``""`` is all of them. Fixed by the data alone,
    so every run, seed and method sees the same halves."""
    if not half:
        return np.arange(len(labels))
    if half not in TEST_HALVES:
        raise ValueError(f"test-half {half!r}: one of {TEST_HALVES} or ''")
    rng = np.random.default_rng([DATA_SEED, len(labels), 2])
    keep = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        cut = len(members) // 2
        keep.append(members[:cut] if half == "validation" else members[cut:])
    return np.sort(np.concatenate(keep))


def subset_indices(size: int, wanted: int) -> np.ndarray:
    """Sorted indices of the fixed random subset of ``wanted`` out of ``size`` training samples (``train-samples``):
    the same in every run and process, and a subset of any larger one (the first ``wanted`` of one permutation)."""
    return np.sort(np.random.default_rng([DATA_SEED, size]).permutation(size)[:wanted])


@functools.lru_cache(maxsize=4)
def _subset(data: DataSet, wanted: int) -> DataSet:
    kept = subset_indices(len(data.y_train), wanted)
    return DataSet(data.name, data.x_train[kept], data.y_train[kept], data.x_test, data.y_test, data.num_classes)


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


MAP_ENV = "FEDUNLEARN_MAP_DATASETS"  # "off": every process loads and holds its own copy of the data set


@functools.lru_cache(maxsize=4)
def _load_cached(key: tuple) -> DataSet:
    """The data set, its arrays mapped from the machine's array cache: computed by the first process that needs it,
    shared read-only by the others (a hub data set stays in the hub's own cache)."""
    options = DataOptions(*key)
    loader = DATASETS.get(options.name)

    def load() -> tuple[np.ndarray, ...]:
        data = loader(options)
        if not isinstance(data, DataSet):
            raise ConfigError(f"dataset = {options.name!r}: its loader returned {type(data).__name__}, not a "
                              f"fedunlearn.data.datasets.DataSet")
        return data.x_train, data.y_train, data.x_test, data.y_test, np.asarray(data.num_classes)

    if (options.name in HUB_DATASETS and idx_folder(options.name, options.data_path) is None
            or os.environ.get(MAP_ENV, "").lower() == "off"):
        arrays = load()
    else:
        arrays = arraycache.shared_arrays("datasets", arraycache.key_of(key, _sources(options)), load)
    x_train, y_train, x_test, y_test, num_classes = arrays
    return DataSet(options.name, x_train, y_train, x_test, y_test, int(num_classes))


def _sources(options: DataOptions) -> tuple:
    """What a stored data set depends on besides its keys: the files it is read from (name, size, modification
    time), the package that provides its loader, and the libraries that compute it."""
    folders = [Path(options.data_path).expanduser()] if options.data_path else []
    local = idx_folder(options.name, options.data_path) if options.name in HUB_DATASETS else None
    files = sorted(f for folder in [*folders, *([local] if local else [])]
                   for f in (folder.rglob("*") if folder.is_dir() else [folder]) if f.is_file())
    stamps = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return stamps, DATASETS.describe_origin(options.name), np.__version__, _version("scikit-learn")


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


@DATASETS.register("digits")
def digits(options: DataOptions) -> DataSet:
    """scikit-learn's 1,797 handwritten digits, 1x8x8, 10 classes (embedded; the default)."""
    x, y = _digits()
    return stratified_split(options.name, x, y, options.test_fraction)


@DATASETS.register("synthetic")
def synthetic_dataset(options: DataOptions) -> DataSet:
    """Gaussian class blobs of synthetic-samples samples, synthetic-classes classes, synthetic-shape."""
    dims = tuple(int(d) for d in options.synthetic_shape.split(","))
    x, y = synthetic(options.synthetic_samples, options.synthetic_classes, dims, seed=DATA_SEED)
    return stratified_split(options.name, x, y, options.test_fraction)


@DATASETS.register("npz")
def npz(options: DataOptions) -> DataSet:
    """An .npz file (data-path) with arrays x and y, optionally x_test and y_test."""
    return _npz(Path(options.data_path), options.test_fraction)


@DATASETS.register("idx")
def idx(options: DataOptions) -> DataSet:
    """A folder (data-path) of MNIST-format IDX files: train-images, train-labels, t10k-images, t10k-labels."""
    return load_idx_folder(idx_folder(options.name, options.data_path), options.name)


def _idx_or_hub(name: str) -> Callable[[DataOptions], DataSet]:
    def load(options: DataOptions) -> DataSet:
        folder = idx_folder(name, options.data_path)
        return load_idx_folder(folder, name) if folder is not None else _hub(name)
    local = f", or Debian's dataset-{name.replace('_', '-')}" if name in LOCAL_IDX_FOLDERS else ""
    load.__doc__ = f"{HUB_DATASETS[name]['hub']}: its IDX files from data-path{local}, else the Hugging Face hub."
    return load


for _name in HUB_DATASETS:
    DATASETS.add(_name, _idx_or_hub(_name))


def describe(config: Mapping[str, Any]) -> tuple[int, int]:
    """(number of classes, number of training samples), loading the data set in this process.

    Used to validate a configuration before Ray starts: a missing, corrupt or unreachable data set is a
    ConfigError here, not an error in every client. A hub data set is downloaded (or read from the hub's
    cache) now; the hub's reachability is checked first, so that no network fails at once.
    """
    if from_hub(config):
        _check_hub_reachable(config["dataset"])
    data = load_dataset(config)
    return data.num_classes, len(data.y_train)


def from_hub(config: Mapping[str, Any]) -> bool:
    """Whether the data set comes from the Hugging Face hub (no local copy of a hub data set was found)."""
    return config["dataset"] in HUB_DATASETS and idx_folder(config["dataset"], config["data-path"]) is None


def idx_folder(name: str, data_path: str) -> Path | None:
    """The folder of IDX files to read for data set ``name``: ``data-path`` when set (``idx``, ``mnist``,
    ``fashion_mnist``), else a known system folder that holds them (Fashion-MNIST: Debian's
    ``dataset-fashion-mnist``); None when there is none (hub data sets then come from the hub)."""
    if name == "idx" or (name in HUB_DATASETS and data_path):
        return Path(data_path).expanduser()
    for folder in LOCAL_IDX_FOLDERS.get(name, ()):
        if Path(folder).is_dir() and any(Path(folder).iterdir()):
            return Path(folder)
    return None


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (N, 1, 8, 8) images in [0, 1]; read from the array cache after the first
    process (importing scikit-learn costs a Ray worker seconds)."""

    def load() -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return (digits.images / 16.0).astype(np.float32)[:, None, :, :], digits.target.astype(np.int64)

    x, y = arraycache.cached_arrays("data", arraycache.key_of("digits", package="scikit-learn"), load)
    return x, y


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


def stratified_split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float) -> DataSet:
    """scikit-learn's stratified ``train_test_split`` (seeded with :data:`DATA_SEED`). It depends on the
    samples only through their number, so its indices are computed once per machine (array cache)."""

    classes, n_test = len(np.unique(y)), int(np.ceil(test_fraction * len(y)))  # scikit-learn's rounding
    if min(n_test, len(y) - n_test) < classes:
        raise ConfigError(f"test-fraction = {test_fraction!r}: splits {name}'s {len(y)} samples into {len(y) - n_test} "
                          f"training and {n_test} test samples; the stratified split needs at least one of each of "
                          f"its {classes} classes on both sides")

    def indices() -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        return train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=DATA_SEED, stratify=y)

    digest = arraycache.key_of("split", test_fraction, DATA_SEED, arrays=[y], package="scikit-learn")
    train, test = arraycache.cached_arrays("splits", digest, indices)
    return DataSet(name, x[train], y[train], x[test], y[test], int(y.max()) + 1)


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
    return stratified_split("npz", x, y, test_fraction)


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


# IDX (LeCun's MNIST format): two zero bytes, a type code, the number of dimensions, each dimension as a
# big-endian uint32, then the values in C order. Gzipped files are read the same way.
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"),
             0x0E: np.dtype(">f8")}
IDX_ROLES = {  # role -> file name patterns (MNIST, Fashion-MNIST, KMNIST: t10k; EMNIST: emnist-<split>-test)
    "train-images": ("*train-images*idx3*",), "train-labels": ("*train-labels*idx1*",),
    "test-images": ("*t10k-images*idx3*", "*test-images*idx3*"), "test-labels": ("*t10k-labels*idx1*", "*test-labels*idx1*"),
}


def read_idx(path: Path) -> np.ndarray:
    """The array an IDX file holds (gzipped or not). A truncated or corrupt file, or one that is not IDX,
    raises :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ConfigError(f"IDX file {str(path)!r}: cannot be read ({exc}); it is truncated or corrupt") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise ConfigError(f"IDX file {str(path)!r}: wrong magic number {raw[:4].hex() or '(empty file)'}; an IDX file "
                          f"starts with 00 00, a type code ({', '.join(f'{t:02x}' for t in IDX_TYPES)}) and its "
                          f"number of dimensions")
    dtype, ndim = np.dtype(IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ConfigError(f"IDX file {str(path)!r}: truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ConfigError(f"IDX file {str(path)!r}: holds {len(raw) - header} bytes of values but its header "
                          f"{'x'.join(map(str, shape))} needs {expected}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def idx_files(folder: Path) -> dict[str, Path]:
    """The four files of an IDX data set in ``folder``, by role; ConfigError when one is missing or ambiguous."""
    if not folder.is_dir():
        raise ConfigError(f"data-path = {str(folder)!r}: no such folder (expected a folder of MNIST-format IDX files)")
    found = {}
    for role, patterns in IDX_ROLES.items():
        matches = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
        if len(matches) != 1:
            problem = "no file" if not matches else f"{len(matches)} files ({', '.join(p.name for p in matches)})"
            raise ConfigError(f"data-path = {str(folder)!r}: {problem} for the {role} (named like "
                              f"{patterns[0].strip('*').replace('*', '-')}-ubyte[.gz]); a folder must hold one IDX "
                              f"data set: train-images, train-labels, t10k-images and t10k-labels")
        found[role] = matches[0]
    return found


def load_idx_folder(folder: Path, name: str) -> DataSet:
    """A data set from a folder of IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST...): images scaled to
    [0, 1] as (N, 1, H, W) float32, labels int64, the files' own train/test split."""
    files = idx_files(Path(folder))
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}-images"], arrays[f"{split}-labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise ConfigError(f"IDX file {str(files[f'{split}-images'])!r}: expected images (N, H, W) and labels (N,), "
                              f"found {images.shape} and {labels.shape}")
        if len(images) != len(labels):
            raise ConfigError(f"IDX file {str(files[f'{split}-labels'])!r}: {len(labels)} labels for {len(images)} "
                              f"images in {files[f'{split}-images'].name}")
    y_train, y_test = (arrays[f"{s}-labels"].astype(np.int64) for s in ("train", "test"))
    if min(y_train.min(), y_test.min()) < 0:
        raise ConfigError(f"IDX file {str(files['train-labels'])!r}: labels must be class indices >= 0")
    return DataSet(name, _as_images(arrays["train-images"]), y_train, _as_images(arrays["test-images"]), y_test,
                   int(max(y_train.max(), y_test.max())) + 1)


def _missing(name: str, why: str) -> ConfigError:
    local = f"apt-get install dataset-{name.replace('_', '-')} (Debian's package), " if name in LOCAL_IDX_FOLDERS else ""
    return ConfigError(f"dataset = {name!r}: no local copy and {why}; get it by {local}data-path = a folder of its "
                       f"four IDX files (train-images, train-labels, t10k-images, t10k-labels), or network access to "
                       f"the Hugging Face hub ({HUB_DATASETS[name]['hub']})")


def _check_hub_reachable(name: str) -> None:
    """Fail at once, before Ray starts, when the hub cannot be reached (unless HF_HUB_OFFLINE=1 asks for the
    cache): the hub client would otherwise retry for half a minute in every process."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return
    try:
        socket.getaddrinfo("huggingface.co", 443)
    except OSError:
        raise _missing(name, "the Hugging Face hub cannot be reached (no network)") from None


def _hub(name: str) -> DataSet:
    """A data set from the Hugging Face hub through flwr-datasets (needs a network or a filled cache)."""
    from flwr_datasets import FederatedDataset
    from flwr_datasets.partitioner import IidPartitioner

    meta = HUB_DATASETS[name]
    try:
        fds = FederatedDataset(dataset=meta["hub"], partitioners={"train": IidPartitioner(1)})
        splits = {split: fds.load_split(split).with_format("numpy") for split in ("train", "test")}
    except Exception as exc:  # network, hub and cache errors come in many types
        offline = " (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        raise _missing(name, f"loading it from the hub failed{offline}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:160]}") from None
    x_train = _as_images(np.asarray(splits["train"][meta["image"]]))
    x_test = _as_images(np.asarray(splits["test"][meta["image"]]))
    y_train = np.asarray(splits["train"]["label"], dtype=np.int64)
    y_test = np.asarray(splits["test"]["label"], dtype=np.int64)
    return DataSet(name, x_train, y_train, x_test, y_test, meta["classes"])
