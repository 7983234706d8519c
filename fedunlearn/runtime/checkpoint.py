"""Checkpoints and the reference cache: phases saved to disk and loaded without executing any code.

A run directory holds ``checkpoints/seed-<s>/``: one file per finished phase (``<phase>.pt``) and one
per phase in progress (``<phase>.round.pt``, rewritten after every round). ``fedunlearn run --resume``
picks up from them. Every random choice in a run is derived from (seed, phase, round, client), so the
round number is the whole random state to restore: a resumed run repeats exactly what an uninterrupted
one does. Files are written atomically (temporary file, then rename) and read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers; a corrupt or
truncated file is a :class:`CheckpointError` naming it.

The model cache (``cache-dir``) keeps trained reference and original models under a hash of everything
that determines them: a second experiment with the same federation and request reuses the reference, and
any experiment with the same data, partition, seed, backdoor and training reuses the original.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any, Mapping

import torch
from flwr.app import ArrayRecord

from fedunlearn.config import DEFAULTS, is_method_key
from fedunlearn.errors import FedunlearnError
from fedunlearn.runtime.phase import Cost, PhaseResult


class CheckpointError(FedunlearnError, RuntimeError):
    """A checkpoint or cache file that cannot be read."""


def safe_name(label: str) -> str:
    """A file name for a phase label: its safe characters plus a hash (labels of variants hold brackets,
    '=' and ';'; no label can reach outside its folder)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", label).lstrip(".")[:60]
    return f"{stem}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def save(path: Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (tensors and plain containers) to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(dict(payload), tmp)
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    """Read a file written by :func:`save`; never unpickles code."""
    try:
        return torch.load(path, weights_only=True)
    except Exception as exc:  # truncated, corrupt, or holding objects weights_only refuses
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None


def _state(record: ArrayRecord) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v.numpy().copy()) for k, v in record.items()}


def _record(state: Mapping[str, torch.Tensor]) -> ArrayRecord:
    return ArrayRecord({k: v for k, v in state.items()})


def kept_payload(kept: Mapping[str, Any]) -> dict[str, Any]:
    """The saveable part of a phase's kept state (arrays as tensors; recorders live on disk on their own)."""
    out = {k: v for k, v in kept.items() if k not in ("arrays", "recorders")}
    if "arrays" in kept:
        out["arrays"] = _state(kept["arrays"])
    return out


def kept_from(payload: Mapping[str, Any]) -> dict[str, Any]:
    kept = dict(payload)
    if "arrays" in kept:
        kept["arrays"] = _record(kept["arrays"])
    return kept


def phase_payload(result: PhaseResult) -> dict[str, Any]:
    payload = {"arrays": _state(result.arrays), "cost": result.cost.to_dict(), "history": result.history,
               "details": json.dumps(result.details), "kept": kept_payload(result.kept)}
    if result.one_off is not None:
        payload["one_off"] = result.one_off.to_dict()
    return payload


def phase_from(payload: Mapping[str, Any]) -> PhaseResult:
    one_off = Cost(**payload["one_off"]) if "one_off" in payload else None
    return PhaseResult(arrays=_record(payload["arrays"]), cost=Cost(**payload["cost"]), history=list(payload["history"]),
                       details=json.loads(payload["details"]), kept=kept_from(payload["kept"]), one_off=one_off)


class RunCheckpoints:
    """The checkpoints of one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        self.root = Path(run_dir) / "checkpoints"

    def seed_dir(self, seed: int) -> Path:
        return self.root / f"seed-{int(seed)}"

    def phase_file(self, seed: int, label: str) -> Path:
        return self.seed_dir(seed) / f"{safe_name(label)}.pt"

    def round_file(self, seed: int, label: str) -> Path:
        return self.seed_dir(seed) / f"{safe_name(label)}.round.pt"

    def load_phase(self, seed: int, label: str) -> PhaseResult | None:
        path = self.phase_file(seed, label)
        return phase_from(load(path)) if path.exists() else None

    def save_phase(self, seed: int, label: str, result: PhaseResult) -> None:
        save(self.phase_file(seed, label), phase_payload(result))
        self.round_file(seed, label).unlink(missing_ok=True)

    def load_round(self, seed: int, label: str) -> dict[str, Any] | None:
        """The state after the last finished round of an unfinished phase: ``round``, ``arrays``
        (ArrayRecord), ``strategy`` (the strategy's own state), ``train``/``evaluate`` ({round: metrics})."""
        path = self.round_file(seed, label)
        if not path.exists():
            return None
        payload = load(path)
        return {**payload, "arrays": _record(payload["arrays"])}

    def save_round(self, seed: int, label: str, server_round: int, arrays: ArrayRecord, strategy: Mapping[str, Any],
                   train: Mapping[int, dict], evaluate: Mapping[int, dict]) -> None:
        save(self.round_file(seed, label), {"round": server_round, "arrays": _state(arrays), "strategy": dict(strategy),
                                            "train": dict(train), "evaluate": dict(evaluate)})


# Keys that do not change the reference model: reports, the evaluator, unlearning and method settings.
NOT_IN_REFERENCE = ("name", "out-dir", "seeds", "cache-dir", "unlearn-methods", "unlearn-rounds", "verdict-tolerance",
                    "mia-samples", "noise-floor", "test-half", "tuned-methods", "rmia-references", "rmia-offline-a", "rmia-gamma")
# ... nor the original model, which is trained before any request: the request's keys too.
REQUEST_KEYS = ("forget-class", "then-forget-classes", "forget-client", "forget-samples", "forget-samples-client",
                "forget-samples-path", "forget-backdoor")


def _file_digest(path: str) -> str:
    """sha256 of a file's contents, or of a folder's files (names and contents, in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _key(config: Mapping[str, Any], leave_out: tuple[str, ...], extra: Mapping[str, Any]) -> str:
    # Keys at their default are left out: a key added later (at a default that keeps the old behaviour) leaves the
    # models cached before it valid.
    keys = {k: v for k, v in sorted(config.items())
            if k not in leave_out and not is_method_key(k) and (k not in DEFAULTS or v != DEFAULTS[k])}
    files = {k: _file_digest(config[k]) for k in ("data-path", "forget-samples-path")
             if config.get(k) and k not in leave_out}
    text = json.dumps({"config": keys, "files": files, "fedunlearn": version("fedunlearn"), "torch": torch.__version__,
                       **extra}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def reference_key(config: Mapping[str, Any], replicate: int = 1) -> str:
    """A hash of everything that determines the reference model of ``config['seed']``: the experiment keys
    that shape data, federation, request and training, the contents of any data or index file, and the
    versions of fedunlearn and torch; ``replicate`` 2 is the second reference (the noise floor's)."""
    return _key(config, NOT_IN_REFERENCE, {} if replicate == 1 else {"replicate": replicate})


def original_key(config: Mapping[str, Any], kept_client: int | None) -> str:
    """A hash of everything that determines the original model of ``config['seed']`` (as
    :func:`reference_key`, without the request), and of the client whose last local model the phase keeps
    (client and sample requests keep their target's, for gradient ascent)."""
    return _key(config, NOT_IN_REFERENCE + REQUEST_KEYS, {"kept_client": kept_client})


class ModelCache:
    """Trained models under ``cache-dir/<kind>/<key>.pt`` (the key is a hex digest): ``reference`` models by
    :func:`reference_key`, ``original`` models by :func:`original_key`."""

    def __init__(self, cache_dir: str | Path, kind: str = "reference") -> None:
        self.root = Path(cache_dir).expanduser().resolve() / kind

    def file(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def load(self, key: str) -> PhaseResult | None:
        path = self.file(key)
        return phase_from(load(path)) if path.exists() else None

    def save(self, key: str, result: PhaseResult) -> Path:
        path = self.file(key)
        save(path, phase_payload(PhaseResult(result.arrays, result.cost, result.history, result.details,
                                             {k: v for k, v in result.kept.items() if k != "recorders"})))
        return path
