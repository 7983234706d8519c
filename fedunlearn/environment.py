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


def describe() -> str:
    """One line: machine, CPUs, Python and the package versions."""
    packages = ", ".join(f"{k} {v}" for k, v in versions().items())
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.system()}; {packages}")
