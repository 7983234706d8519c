"""Deletion requests: which training samples a client must forget.

A request is a pure description; :meth:`DeletionRequest.forget_mask` says, for the samples one client
holds, which of them are to be forgotten. Everything else the client holds is retained data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class DeletionRequest:
    """What to forget. ``kind`` is one of the request kinds methods declare support for."""

    kind: str
    forget_class: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DeletionRequest":
        return cls(kind="class", forget_class=config["forget-class"])

    def forget_mask(self, labels: np.ndarray, client_id: int) -> np.ndarray:
        """Boolean mask over one client's samples (given by their labels): True = to forget."""
        labels = np.asarray(labels)
        if self.kind == "class":
            return labels == self.forget_class
        raise ValueError(f"unknown request kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}
