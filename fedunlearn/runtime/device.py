"""Where torch computes: the ``device`` key resolved in each process, checked before anything runs.

``auto`` is the accelerator torch sees (CUDA, else Apple's MPS), else the CPU, resolved in the process that
computes: a SuperNode without a GPU trains on its CPU while the server uses its GPU. An explicit device that torch
does not see is a ConfigError naming the device and what torch sees, before Ray starts.

On CUDA, :func:`prepare` asks torch for deterministic kernels (the same seed gives the same numbers on the same
device; where an operation has no deterministic kernel torch warns instead of failing) and caps the process's GPU
memory to its ``client-gpus`` share, so that clients oversubscribing a GPU fail with one clear line rather than with
an out-of-memory error in the middle of a run.
"""

from __future__ import annotations

import functools
import os
import sys

import torch

from fedunlearn.config import DEVICE as PATTERN
from fedunlearn.errors import ConfigError
from fedunlearn.runtime.environment import cpu_model

ALLOWED = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def seen() -> str:
    """What torch sees here, in words."""
    parts = []
    if torch.cuda.is_available():
        parts.append(f"{torch.cuda.device_count()} CUDA device(s): "
                     + ", ".join(f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())))
    if _mps_available():
        parts.append("mps")
    build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a build without CUDA")
    return ("; ".join(parts) or "no accelerator, only the CPU") + f" ({build})"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve(name: str) -> torch.device:
    """The torch device ``name`` means in this process; ConfigError when torch does not see it."""
    if not PATTERN.match(name):
        raise ConfigError(f"device = {name!r}: must be {ALLOWED}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        index = device.index or 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ConfigError(f"device = {name!r}: torch sees {seen()}; use 'auto' or 'cpu'")
    if device.type == "mps" and not _mps_available():
        raise ConfigError(f"device = {name!r}: torch sees {seen()}; use 'auto' or 'cpu'")
    return device


def describe(device: torch.device) -> str:
    """The device and its name, as reports state it."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({cpu_model()})"


def check_client_gpus(share: float, device_name: str, ray_address: str) -> None:
    """``client-gpus`` > 0 needs a GPU for Ray to schedule on: here (CUDA seen by torch), or on the Ray cluster of
    ``ray-address``, whose nodes this process cannot see; and a device that is not the CPU."""
    if share <= 0:
        return
    if device_name == "cpu":
        raise ConfigError(f"client-gpus = {share}: gives each client a GPU share, but device = 'cpu'; "
                          f"set device = 'auto' or 'cuda', or client-gpus = 0")
    if not ray_address and not torch.cuda.is_available():
        raise ConfigError(f"client-gpus = {share}: Ray would wait for a GPU that is not here (torch sees {seen()}); "
                          f"set client-gpus = 0, or ray-address to a cluster with GPU nodes")


def for_client(name: str) -> torch.device:
    """The device of a client's work: ``name`` resolved in its process, except that a simulated client to which
    Ray gave no GPU (``client-gpus = 0``, Flower's convention) works on the CPU, whatever GPU it could see."""
    device = resolve(name)
    return torch.device("cpu") if device.type == "cuda" and _ray_worker_without_gpu() else device


def _ray_worker_without_gpu() -> bool:
    ray = sys.modules.get("ray")  # a SuperNode never imports Ray: only a simulated client runs in a Ray worker
    if ray is None or not ray.is_initialized():
        return False
    try:
        return not ray.get_gpu_ids()
    except Exception:  # noqa: BLE001  (not a worker: the driver process, or a Ray without that call)
        return False


@functools.lru_cache(maxsize=None)
def prepare(device: torch.device, memory_share: float = 0.0) -> None:
    """Once per process and device: deterministic CUDA kernels, and the GPU memory cap of a ``memory_share`` in
    (0, 1) (``client-gpus``)."""
    if device.type != "cuda":
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what cuBLAS needs to be deterministic
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    if 0 < memory_share < 1:
        torch.cuda.set_per_process_memory_fraction(memory_share, device)
