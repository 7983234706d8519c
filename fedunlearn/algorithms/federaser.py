"""FedEraser (Liu et al., IWQoS 2021): the update store and the calibration rule.

During training the server records every client's update every ``interval`` rounds, on disk (one
``.npz`` per client and round, no pickle). Unlearning replays those rounds without the deleted client, as
the authors' code does (IMoonKeyBoard/FedEraser, ``FedEraser.py``: ``unlearning_with_calibration`` and
``unlearning_step_once``):

- the first recorded round is applied exactly: the initial model plus the remaining clients' averaged
  recorded update (:func:`first_round`);
- every later recorded round is a calibration round: the remaining clients train briefly from the new
  global model, and **per layer** (state-dict entry) the averaged calibrated update keeps its direction and
  takes the length of the averaged recorded update: ``new[l] = global[l] + ||old[l]|| * cal[l] / ||cal[l]||``
  (:func:`calibrated_step`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def recorded_rounds(num_rounds: int, interval: int) -> list[int]:
    """The training rounds whose updates are recorded: 1, 1 + interval, 1 + 2 interval, ..."""
    return list(range(1, num_rounds + 1, interval))


def average(updates: Sequence[Mapping[str, np.ndarray]], weights: Sequence[float]) -> dict[str, np.ndarray]:
    """The ``weights``-weighted mean of ``updates``, tensor by tensor, in float64."""
    total = float(sum(weights))
    if not updates or total <= 0:
        raise ValueError("no update to average")
    return {k: sum(np.asarray(u[k], np.float64) * (w / total) for u, w in zip(updates, weights)) for k in updates[0]}


def first_round(initial: Mapping[str, np.ndarray], recorded: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The unlearned model after the first recorded round: the initial model plus the remaining clients'
    averaged recorded update, with no calibration (their round-1 models averaged, as the authors' code does)."""
    return {k: (np.asarray(v, np.float64) + recorded[k]).astype(v.dtype) if k in recorded else np.array(v)
            for k, v in initial.items()}


def calibrated_step(global_state: Mapping[str, np.ndarray], recorded: Mapping[str, np.ndarray],
                    calibrated: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """FedEraser's calibration, layer by layer: ``global + ||recorded[l]|| * calibrated[l] / ||calibrated[l]||``
    for every entry ``l`` of the averaged updates (a calibrated update of length 0 leaves its layer as it is);
    entries that are not updates (integer counters) stay the global model's."""
    out = {}
    for k, v in global_state.items():
        if k not in calibrated:
            out[k] = np.array(v)
            continue
        own = float(np.linalg.norm(np.ravel(calibrated[k])))
        step = calibrated[k] * (float(np.linalg.norm(np.ravel(recorded[k]))) / own) if own > 0 else 0.0
        out[k] = (np.asarray(v, np.float64) + step).astype(v.dtype)
    return out


class UpdateStore:
    """Client updates of the recorded rounds, on disk, at most ``max_bytes`` in all.

    Without ``path`` the store lives in a temporary folder that :meth:`close` removes. With ``path`` (a
    run's checkpoint folder) it also keeps an index there, so a resumed run finds what was recorded.
    """

    def __init__(self, max_bytes: int, path: str | Path | None = None) -> None:
        self.temporary = path is None
        self.path = Path(tempfile.mkdtemp(prefix="fedunlearn-federaser-")) if path is None else Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.rounds: dict[int, dict[int, int]] = {}  # round -> {client: num_examples}
        self._sizes: dict[str, int] = {}
        index = self.path / "index.json"
        if index.exists():
            try:
                saved = json.loads(index.read_text(encoding="utf-8"))
                self.rounds = {int(r): {int(c): int(n) for c, n in v.items()} for r, v in saved["rounds"].items()}
                self._sizes = {str(k): int(v) for k, v in saved["sizes"].items()}
            except (ValueError, KeyError, AttributeError) as exc:
                raise RuntimeError(f"{index}: not a readable FedEraser index ({exc})") from None

    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())

    def _file(self, server_round: int, client: int) -> Path:
        return self.path / f"round-{int(server_round):05d}" / f"client-{int(client):06d}.npz"

    def save(self, server_round: int, client: int, update: Mapping[str, np.ndarray], num_examples: int) -> None:
        path = self._file(server_round, client)
        key = str(path.relative_to(self.path))
        size = sum(v.nbytes for v in update.values())
        if self.bytes - self._sizes.get(key, 0) + size > self.max_bytes:
            raise RuntimeError(f"federaser: recording round {server_round} would exceed federaser-max-mb "
                               f"({self.max_bytes / 2**20:.0f} MiB)")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **update)
        self._sizes[key] = path.stat().st_size
        self.rounds.setdefault(server_round, {})[client] = num_examples
        if not self.temporary:
            tmp = self.path / ".index.json.tmp"
            tmp.write_text(json.dumps({"rounds": self.rounds, "sizes": self._sizes}), encoding="utf-8")
            tmp.replace(self.path / "index.json")

    def save_file(self, path: Path, arrays: Mapping[str, np.ndarray]) -> None:
        """Write other arrays the store keeps (the initial model), atomically."""
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

    def load(self, server_round: int, client: int) -> dict[str, np.ndarray]:
        return self.load_file(self._file(server_round, client))

    def load_file(self, path: Path) -> dict[str, np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as exc:  # truncated or corrupt: numpy raises several types
            raise RuntimeError(f"{path}: not a readable recorded update ({exc})") from None

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
