"""FedEraser (Liu et al., IWQoS 2021): the update store and the calibration rule.

During training the server records every client's update every ``interval`` rounds, on disk (one
``.npz`` per client and round, no pickle). Unlearning replays those rounds without the deleted client:
the remaining clients train briefly from the new global model (calibration), and each calibrated update
keeps its own direction but takes the recorded update's length: U = ||U_old|| * U_cal / ||U_cal||.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np


def recorded_rounds(num_rounds: int, interval: int) -> list[int]:
    """The training rounds whose updates are recorded: 1, 1 + interval, 1 + 2 interval, ..."""
    return list(range(1, num_rounds + 1, interval))


def _norm(update: Mapping[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(np.square(v, dtype=np.float64)) for v in update.values())))


def rescale(calibrated: Mapping[str, np.ndarray], recorded: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The calibrated update's direction with the recorded update's length (over all tensors together)."""
    length, own = _norm(recorded), _norm(calibrated)
    scale = length / own if own > 0 else 0.0
    return {k: (v * scale).astype(v.dtype) for k, v in calibrated.items()}


class UpdateStore:
    """Client updates of the recorded rounds, on disk, at most ``max_bytes`` in all."""

    def __init__(self, max_bytes: int, root: str | Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="fedunlearn-federaser-", dir=root))
        self.max_bytes = max_bytes
        self.bytes = 0
        self.rounds: dict[int, dict[int, int]] = {}  # round -> {client: num_examples}

    def _file(self, server_round: int, client: int) -> Path:
        return self.path / f"round-{server_round:05d}" / f"client-{client:06d}.npz"

    def save(self, server_round: int, client: int, update: Mapping[str, np.ndarray], num_examples: int) -> None:
        size = sum(v.nbytes for v in update.values())
        if self.bytes + size > self.max_bytes:
            raise RuntimeError(f"federaser: recording round {server_round} would exceed federaser-max-mb "
                               f"({self.max_bytes / 2**20:.0f} MiB)")
        path = self._file(server_round, client)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **update)
        self.bytes += path.stat().st_size
        self.rounds.setdefault(server_round, {})[client] = num_examples

    def load(self, server_round: int, client: int) -> dict[str, np.ndarray]:
        with np.load(self._file(server_round, client), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
