"""Split the training data over clients with flwr-datasets partitioners.

Partitioners work on a Hugging Face ``datasets.Dataset``; only the labels and each sample's index
are handed to them, so the result is a list of index arrays into the training split, one per client.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np

from fedunlearn.config import ConfigError
from fedunlearn.data import arraycache


def make_partitioner(config: Mapping[str, Any], num_train: int):
    """The flwr-datasets partitioner the configuration names."""
    from flwr_datasets.partitioner import DirichletPartitioner, IidPartitioner, PathologicalPartitioner

    n = config["num-clients"]
    if config["partitioner"] == "iid":
        return IidPartitioner(num_partitions=n)
    if config["partitioner"] == "dirichlet":
        return DirichletPartitioner(
            num_partitions=n,
            partition_by="label",
            alpha=config["dirichlet-alpha"],
            min_partition_size=max(1, min(10, num_train // (2 * n))),
            self_balancing=False,
            shuffle=True,
            seed=config["seed"],
        )
    return PathologicalPartitioner(
        num_partitions=n,
        partition_by="label",
        num_classes_per_partition=config["classes-per-client"],
        class_assignment_mode="first-deterministic",
        shuffle=True,
        seed=config["seed"],
    )


def partition_indices(labels: np.ndarray, config: Mapping[str, Any]) -> list[np.ndarray]:
    """Indices into ``labels`` held by each client (sorted; no index appears twice).

    With ``iid`` the order of samples is shuffled first (seeded), so contiguous shards are IID.
    A partitioner that cannot satisfy the configuration raises :class:`ConfigError`.
    """
    import datasets

    datasets.disable_progress_bars()
    labels = np.asarray(labels, dtype=np.int64)
    order = np.arange(len(labels))
    if config["partitioner"] == "iid":
        order = np.random.default_rng(config["seed"]).permutation(len(labels))
    table = datasets.Dataset.from_dict({"label": labels[order], "index": order})
    partitioner = make_partitioner(config, len(labels))
    partitioner.dataset = table
    try:
        parts = [np.sort(np.asarray(partitioner.load_partition(i)["index"], dtype=np.int64))
                 for i in range(config["num-clients"])]
    except ValueError as exc:
        raise ConfigError(
            f"partitioner = {config['partitioner']!r}: cannot split {len(labels)} samples over "
            f"num-clients = {config['num-clients']} ({str(exc).splitlines()[0][:160]})"
        ) from None
    return parts


@functools.lru_cache(maxsize=4)
def _cached(labels_bytes: bytes, key: tuple) -> tuple[np.ndarray, ...]:
    labels = np.frombuffer(labels_bytes, dtype=np.int64)
    digest = arraycache.key_of(key, np.__version__, arrays=[labels], package="flwr-datasets")
    return arraycache.cached_arrays("partitions", digest, lambda: partition_indices(labels, dict(key)))


def client_partitions(labels: np.ndarray, config: Mapping[str, Any]) -> tuple[np.ndarray, ...]:
    """:func:`partition_indices`, cached per process (clients in one Ray worker share it) and on disk
    (:mod:`fedunlearn.data.arraycache`: the server computes it, the workers read it back)."""
    keys = ("num-clients", "partitioner", "dirichlet-alpha", "classes-per-client", "seed")
    return _cached(np.asarray(labels, dtype=np.int64).tobytes(), tuple((k, config[k]) for k in keys))
