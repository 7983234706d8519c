"""The federated view of the data: which client holds which samples, and what each must forget.

``config -> Federation`` is the one place where the data set, its partition over clients and the
deletion request meet. Clients ask it for their own samples (``all``, ``retain`` or ``forget``); the
central evaluator asks it for the union of forgotten and retained training samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .data import DataSet, load_dataset
from .partition import client_partitions
from .requests import DeletionRequest

VIEWS = ("all", "retain", "forget")


@dataclass(frozen=True, eq=False)
class Federation:
    data: DataSet
    partitions: tuple[np.ndarray, ...]
    request: DeletionRequest

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Federation":
        data = load_dataset(config)
        return cls(data, client_partitions(data.y_train, config), DeletionRequest.from_config(config))

    @property
    def num_clients(self) -> int:
        return len(self.partitions)

    def client_indices(self, client_id: int, view: str) -> np.ndarray:
        """Indices (into the training split) of client ``client_id``'s samples in ``view``."""
        if view not in VIEWS:
            raise ValueError(f"view {view!r}: must be one of {VIEWS}")
        held = self.partitions[client_id]
        if view == "all":
            return held
        forget = self.request.forget_mask(self.data.y_train[held], client_id)
        return held[forget] if view == "forget" else held[~forget]

    def client_arrays(self, client_id: int, view: str) -> tuple[np.ndarray, np.ndarray]:
        idx = self.client_indices(client_id, view)
        return self.data.x_train[idx], self.data.y_train[idx]

    def union_indices(self, view: str) -> np.ndarray:
        """Indices of ``view`` samples over all clients (sorted)."""
        parts = [self.client_indices(c, view) for c in range(self.num_clients)]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
