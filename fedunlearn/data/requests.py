"""Deletion requests: which training samples a client must forget.

A request is a pure description; :meth:`DeletionRequest.forget_mask` says, for the samples one client
holds, which of them are to be forgotten. Everything else the client holds is retained data.

Sequential requests (``forget-class`` then ``then-forget-classes``) are class requests that arrive one
after another. Taken whole (the reference, the evaluator) the request forgets every class of the
sequence. Its step ``s`` (``request-step = s``, set by the flow for the methods' phases) forgets the
s-th class from a federation in which the classes of the earlier steps are already deleted: their
samples are gone from every view.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from fedunlearn.config import ConfigError, class_sequence, request_kind

KINDS = ("class", "client", "sample", "sequential")


@dataclass(frozen=True)
class DeletionRequest:
    """What to forget.

    - ``class``: every sample labelled ``forget_class``, on every client;
    - ``client``: every sample client ``forget_client`` holds;
    - ``sample``: a seeded ``forget_fraction`` of the samples client ``forget_client`` holds, or the training indices
      ``forget_indices`` (from a file, or the samples that carry the planted backdoor: ``of_backdoor``);
    - ``sequential`` (taken whole): every sample labelled ``forget_class`` or one of ``later_classes``.

    ``earlier_classes`` are classes deleted by earlier requests: no view holds their samples.
    """

    kind: str
    forget_class: int | None = None
    later_classes: tuple[int, ...] = ()
    earlier_classes: tuple[int, ...] = ()
    forget_client: int | None = None
    forget_fraction: float | None = None
    forget_indices: tuple[int, ...] | None = None  # a sample request from a file: training-split indices
    seed: int | None = None
    of_backdoor: bool = False  # forget_indices are the samples that carry the backdoor (forget-backdoor)

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
        sequence = class_sequence(config)
        step = int(config.get("request-step", 0))
        if kind == "sequential" and step == 0:
            return cls(kind, forget_class=sequence[0], later_classes=tuple(sequence[1:]))
        if not 0 <= step <= len(sequence):
            raise ValueError(f"request-step = {step}: the request has steps 1..{len(sequence)}")
        step = max(step, 1)
        return cls("class", forget_class=sequence[step - 1], earlier_classes=tuple(sequence[:step - 1]))

    @property
    def classes(self) -> tuple[int, ...]:
        """The classes this request forgets (empty for client and sample requests)."""
        return () if self.forget_class is None else (self.forget_class, *self.later_classes)

    @property
    def steps(self) -> int:
        """How many requests arrive one after another (1 unless sequential)."""
        return 1 + len(self.later_classes)

    def gone_mask(self, labels: np.ndarray) -> np.ndarray:
        """Samples deleted by earlier requests (absent from every view)."""
        return np.isin(np.asarray(labels), self.earlier_classes)

    @property
    def target_client(self) -> int | None:
        """The client a client or sample request is about (None for class requests)."""
        return self.forget_client

    def forget_mask(self, held: np.ndarray, labels: np.ndarray, client_id: int) -> np.ndarray:
        """Boolean mask over one client's samples (their training indices ``held`` and ``labels``)."""
        held, labels = np.asarray(held), np.asarray(labels)
        if self.kind in ("class", "sequential"):
            return np.isin(labels, self.classes)
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
        out = {k: v for k, v in asdict(self).items()
               if v is not None and v != () and k not in ("seed", "forget_indices", "forget_class", "later_classes")}
        if self.kind == "sequential":
            out["forget_classes"] = list(self.classes)
        elif self.forget_class is not None:
            out["forget_class"] = self.forget_class
        if self.earlier_classes:
            out["earlier_classes"] = list(self.earlier_classes)
        if self.forget_indices is not None:
            out["forget_samples"] = len(self.forget_indices)
        if not self.of_backdoor:
            out.pop("of_backdoor", None)
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
