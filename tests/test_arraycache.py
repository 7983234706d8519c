"""The machine-wide cache of index arrays (fedunlearn/data/arraycache.py): same numbers, computed once."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fedunlearn.config import ConfigError, validate
from fedunlearn.data import arraycache
from fedunlearn.data.partition import client_partitions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(arraycache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_arrays_are_computed_once_then_read_back_and_a_corrupt_entry_is_computed_again(cache):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(5), np.array([[1.5, 2.5]])

    key = arraycache.key_of("k", 1, arrays=[np.arange(3)])
    first = arraycache.cached_arrays("kind", key, compute)
    second = arraycache.cached_arrays("kind", key, compute)
    assert len(calls) == 1
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(first, second))
    [entry] = (cache / "kind").iterdir()  # one file, no temporary left behind
    entry.write_bytes(entry.read_bytes()[:20])  # truncated
    third = arraycache.cached_arrays("kind", key, compute)
    assert len(calls) == 2 and np.array_equal(third[0], np.arange(5))


def test_keys_follow_every_input():
    base = arraycache.key_of("split", 0.2, arrays=[np.array([0, 1, 1])])
    assert base == arraycache.key_of("split", 0.2, arrays=[np.array([0, 1, 1])])
    assert base != arraycache.key_of("split", 0.25, arrays=[np.array([0, 1, 1])])
    assert base != arraycache.key_of("split", 0.2, arrays=[np.array([1, 0, 1])])
    assert base != arraycache.key_of("split", 0.2, arrays=[np.array([0, 1, 1], dtype=np.int32)])


def test_off_or_an_unwritable_folder_computes_every_time(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv(arraycache.ENV, "off")
    for _ in range(2):
        arraycache.cached_arrays("kind", "k", lambda: calls.append(1) or [np.zeros(2)])
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(arraycache.ENV, str(blocker))
    for _ in range(2):
        arraycache.cached_arrays("kind", "k", lambda: calls.append(1) or [np.zeros(2)])
    assert len(calls) == 4


def test_a_split_that_cannot_be_made_is_an_error_and_nothing_is_stored(cache):
    config = validate({"num-clients": 8, "partitioner": "dirichlet", "dirichlet-alpha": 0.01})
    with pytest.raises(ConfigError, match="cannot split"):
        client_partitions(np.arange(8) % 2, config)
    assert not (cache / "partitions").exists()


def test_a_worker_with_a_warm_cache_gets_the_same_arrays_without_scikit_learn_or_flwr_datasets(cache):
    """What a Ray worker does: load the data set and its partition. The first process computes them
    (scikit-learn's split, flwr-datasets' partitioner); the second reads them back, imports neither, and
    gets the very same arrays as scikit-learn's train_test_split on the samples themselves."""
    script = (
        "import sys, numpy as np\n"
        "from fedunlearn.config import validate\n"
        "from fedunlearn.data.datasets import load_dataset\n"
        "from fedunlearn.data.partition import client_partitions\n"
        "c = validate({'partitioner': 'dirichlet'})\n"
        "d = load_dataset(c)\n"
        "p = client_partitions(d.y_train, c)\n"
        "np.savez(sys.argv[1], d.x_train, d.y_train, d.x_test, d.y_test, *p)\n"
        "print(','.join(m for m in ('sklearn', 'flwr_datasets') if m in sys.modules))\n"
    )
    env = {**os.environ, arraycache.ENV: str(cache)}
    runs = [subprocess.run([sys.executable, "-c", script, str(cache.parent / f"{i}.npz")], cwd=ROOT, env=env,
                           capture_output=True, text=True, check=True) for i in range(2)]
    assert runs[0].stdout.strip() == "sklearn,flwr_datasets"
    assert runs[1].stdout.strip() == ""
    first, second = (np.load(cache.parent / f"{i}.npz") for i in range(2))
    assert all(np.array_equal(first[k], second[k]) for k in first.files)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from fedunlearn.data.datasets import DATA_SEED

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.2, random_state=DATA_SEED,
                                                        stratify=digits.target)
    for mine, theirs in zip(("arr_0", "arr_1", "arr_2", "arr_3"), (x_train, y_train, x_test, y_test)):
        assert np.array_equal(second[mine], theirs)


def test_shared_arrays_are_stored_once_and_mapped_read_only_by_every_later_process(cache):
    calls = []

    def compute():
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(2, 3), np.asarray(10)

    first = arraycache.shared_arrays("datasets", "k", compute)
    second = arraycache.shared_arrays("datasets", "k", compute)
    assert len(calls) == 1 and all(isinstance(a, np.memmap) and not a.flags.writeable for a in first + second)
    assert np.array_equal(second[0], [[0, 1, 2], [3, 4, 5]]) and int(second[1]) == 10
    assert sorted(p.name for p in (cache / "datasets").iterdir()) == ["k"]  # no temporary folder left behind
    (cache / "datasets" / "k" / "a0.npy").write_bytes(b"not an array")  # corrupt: computed again
    arraycache.shared_arrays("datasets", "k", compute)
    assert len(calls) == 2


def test_without_a_cache_shared_arrays_are_the_computed_ones(monkeypatch):
    monkeypatch.setenv(arraycache.ENV, "off")
    (x,) = arraycache.shared_arrays("datasets", "k", lambda: [np.ones(3)])
    assert not isinstance(x, np.memmap) and x.flags.writeable


def test_a_data_set_is_computed_by_the_first_process_and_mapped_by_the_next(cache, tmp_path):
    """Two fresh processes load the same .npz data set: the second maps the first one's arrays; changing the file
    makes it computed again."""
    data = tmp_path / "mine.npz"
    np.savez(data, x=np.random.default_rng(0).random((40, 1, 4, 4), dtype=np.float32), y=np.arange(40) % 4)
    script = ("import numpy as np; from fedunlearn.config import validate; "
              "from fedunlearn.data.datasets import load_dataset; "
              f"d = load_dataset(validate({{'dataset': 'npz', 'data-path': {str(data)!r}}})); "
              "print(type(d.x_train).__name__, len(d.y_train), d.num_classes, float(d.x_train.sum()))")
    env = {**os.environ, arraycache.ENV: str(cache)}
    run = lambda: subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,  # noqa: E731
                                 check=True).stdout.split()
    first, second = run(), run()
    assert first == second and first[:3] == ["memmap", "32", "4"]
    assert len(list((cache / "datasets").iterdir())) == 1
    np.savez(data, x=np.zeros((40, 1, 4, 4), np.float32), y=np.arange(40) % 4)
    assert run()[3] == "0.0" and len(list((cache / "datasets").iterdir())) == 2  # a new entry for the new file
