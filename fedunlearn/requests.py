"""Deletion requests: which training samples a client must forget.

A request is a pure description; :meth:`DeletionRequest.forget_mask` says, for the samples one client
holds, which of them are to be forgotten. Everything else the client holds is retained data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from .config import ConfigError, request_kind

KINDS = ("class", "client", "sample")


@dataclass(frozen=True)
class DeletionRequest:
    """What to forget.

    - ``class``: every sample labelled ``forget_class``, on every client;
    - ``client``: every sample client ``forget_client`` holds;
    - ``sample``: a seeded ``forget_fraction`` of the samples client ``forget_client`` holds.
    """

    kind: str
    forget_class: int | None = None
    forget_client: int | None = None
    forget_fraction: float | None = None
    forget_indices: tuple[int, ...] | None = None  # a sample request from a file: training-split indices
    seed: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DeletionRequest":
        kind = request_kind(config)
        if kind == "client":
            return cls(kind, forget_client=config["forget-client"])
        if kind == "sample" and config["forget-samples-path"]:
            return cls(kind, forget_indices=tuple(int(i) for i in load_indices(config["forget-samples-path"])))
        if kind == "sample":
            return cls(kind, forget_client=config["forget-samples-client"], forget_fraction=config["forget-samples"],
                       seed=config["seed"])
        return cls(kind, forget_class=config["forget-class"])

    @property
    def target_client(self) -> int | None:
        """The client a client or sample request is about (None for class requests)."""
        return self.forget_client

    def forget_mask(self, held: np.ndarray, labels: np.ndarray, client_id: int) -> np.ndarray:
        """Boolean mask over one client's samples (their training indices ``held`` and ``labels``)."""
        held, labels = np.asarray(held), np.asarray(labels)
        if self.kind == "class":
            return labels == self.forget_class
        if self.forget_indices is not None:
            return np.isin(held, self.forget_indices)
        if client_id != self.forget_client:
            return np.zeros(len(held), dtype=bool)
        if self.kind == "client":
            return np.ones(len(held), dtype=bool)
        if self.kind == "sample":
            n = int(round(self.forget_fraction * len(held)))
            chosen = np.random.default_rng(self.seed).choice(len(held), n, replace=False)
            mask = np.zeros(len(held), dtype=bool)
            mask[chosen] = True
            return mask
        raise ValueError(f"unknown request kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None and k not in ("seed", "forget_indices")}
        if self.forget_indices is not None:
            out["forget_samples"] = len(self.forget_indices)
        return out


def load_indices(path: str) -> np.ndarray:
    """Training-split indices from a ``.npy`` (integer array, no pickle) or ``.txt`` (one per line) file."""
    try:
        if path.endswith(".npy"):
            indices = np.load(path, allow_pickle=False)
        else:
            indices = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"forget-samples-path = {path!r}: cannot read sample indices ({exc})") from None
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer) or len(indices) == 0:
        raise ConfigError(f"forget-samples-path = {path!r}: must hold a non-empty list of integer indices")
    return np.unique(indices.astype(np.int64))
