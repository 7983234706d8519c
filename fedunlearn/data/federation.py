"""The federated view of the data: which client holds which samples, and what each must forget.

``config -> Federation`` is the one place where the data set, its partition over clients, an optional
backdoor planted in one client's data and the deletion request meet. Clients ask it for their own
samples (``all``, ``retain`` or ``forget``); the central evaluator asks it for the union of forgotten
and retained training samples.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from fedunlearn.data.backdoor import add_trigger, poisoned_indices
from fedunlearn.data.datasets import DATA_KEYS, DataSet, data_key, load_dataset
from fedunlearn.data.partition import client_partitions
from fedunlearn.data.requests import DeletionRequest
from fedunlearn.learning.training import derive_seed

VIEWS = ("all", "retain", "forget")
_PARTITION_KEYS = ("train-samples", "class-imbalance", "num-clients", "partitioner", "dirichlet-alpha", "classes-per-client", "seed",
                   "backdoor-client", "backdoor-fraction", "backdoor-target")
_REQUEST_KEYS = ("forget-class", "then-forget-classes", "forget-client", "forget-samples", "forget-samples-client",
                 "forget-samples-path", "seed")


@dataclass(frozen=True, eq=False)
class Federation:
    data: DataSet
    partitions: tuple[np.ndarray, ...]
    request: DeletionRequest
    poisoned: np.ndarray  # training indices that carry the backdoor trigger (empty: no backdoor)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Federation":
        """The federation a configuration describes (cached per process: clients in one worker share it).

        ``config`` may carry ``request-step`` (a step of a sequential request; see :mod:`.requests`)."""
        data, partitions, poisoned = _partitioned(data_key(config), tuple((k, config[k]) for k in _PARTITION_KEYS))
        if config.get("forget-backdoor"):  # the samples the trigger was planted in: known once they are drawn
            return Federation(data, partitions, DeletionRequest("sample", forget_indices=tuple(map(int, poisoned)),
                                                                of_backdoor=True), poisoned)
        request_key = (*((k, config[k]) for k in _REQUEST_KEYS), ("request-step", config.get("request-step", 0)))
        return Federation(data, partitions, _request(request_key), poisoned)

    @property
    def num_clients(self) -> int:
        return len(self.partitions)

    @property
    def target_client(self) -> int | None:
        """The one client a client or sample request is about (for a file of indices: the client holding
        them all); None for class requests and for samples spread over several clients."""
        if self.request.target_client is not None:
            return self.request.target_client
        if self.request.kind != "sample":
            return None
        owners = [c for c in range(self.num_clients) if len(self.client_indices(c, "forget"))]
        return owners[0] if len(owners) == 1 else None

    def client_indices(self, client_id: int, view: str) -> np.ndarray:
        """Indices (into the training split) of client ``client_id``'s samples in ``view``."""
        if view not in VIEWS:
            raise ValueError(f"view {view!r}: must be one of {VIEWS}")
        held = self.partitions[client_id]
        if self.request.earlier_classes:
            held = held[~self.request.gone_mask(self.data.y_train[held])]
        if view == "all":
            return held
        forget = self.request.forget_mask(held, self.data.y_train[held], client_id)
        return held[forget] if view == "forget" else held[~forget]

    def client_arrays(self, client_id: int, view: str) -> tuple[np.ndarray, np.ndarray]:
        idx = self.client_indices(client_id, view)
        return self.data.x_train[idx], self.data.y_train[idx]

    def union_indices(self, view: str) -> np.ndarray:
        """Indices of ``view`` samples over all clients (sorted)."""
        parts = [self.client_indices(c, view) for c in range(self.num_clients)]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)


@functools.lru_cache(maxsize=16)
def _request(request_key: tuple) -> DeletionRequest:
    return DeletionRequest.from_config(dict(request_key))


@functools.lru_cache(maxsize=4)
def _partitioned(data_key_: tuple, partition_key: tuple) -> tuple[DataSet, tuple[np.ndarray, ...], np.ndarray]:
    config = dict(zip(DATA_KEYS, data_key_)) | dict(partition_key)
    data = load_dataset(config)
    partitions = client_partitions(data.y_train, config)
    poisoned = np.empty(0, dtype=np.int64)
    if config["backdoor-client"] >= 0:
        poisoned = poisoned_indices(partitions[config["backdoor-client"]], config["backdoor-fraction"],
                                    derive_seed(config["seed"], "backdoor"))
        x_train, y_train = data.x_train.copy(), data.y_train.copy()
        x_train[poisoned] = add_trigger(x_train[poisoned])
        y_train[poisoned] = config["backdoor-target"]
        data = dataclasses.replace(data, x_train=x_train, y_train=y_train)
    return data, tuple(partitions), poisoned
