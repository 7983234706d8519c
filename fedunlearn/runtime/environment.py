"""What a result was measured on: the machine and the versions of the packages that shape the numbers."""

from __future__ import annotations

import os
import platform
from importlib import metadata

PACKAGES = ("flwr", "ray", "torch", "numpy", "scikit-learn", "flwr-datasets")


def versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (``-`` for one that is missing)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def cpu_model() -> str:
    """The processor's name as Linux reports it (``/proc/cpuinfo``), else what ``platform`` knows, else ``-``.
    Timings move with it: the same 2-core run has taken 1.8x longer on one host than on another."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "-"


def describe(device: str | None = None) -> str:
    """One line: machine, processor, CPUs, Python and the package versions; with ``device`` (the device and its
    name, as :func:`fedunlearn.runtime.device.describe` gives it), where torch computed."""
    packages = ", ".join(f"{k} {v}" for k, v in versions().items())
    return (f"{platform.machine()} ({cpu_model()}), {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.system()}; {packages}" + (f"; device {device}" if device else ""))
