"""Commands the experiment scripts run: `fedunlearn run` as a user types it, and the mean ± half-interval they print."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fedunlearn_run(experiment: str, overrides: str, out: str) -> list[str]:
    """The argument list of one run (``fedunlearn`` is the venv's console script)."""
    return ["fedunlearn", "run", experiment, "--run-config", overrides, "--out", out]


def shown(args: list[str]) -> str:
    """The command as a user types it."""
    return " ".join(args[:4]) + f' "{args[4]}" ' + " ".join(args[5:])


def execute(args: list[str]) -> None:
    print("$", shown(args), flush=True)
    subprocess.run([str(Path(sys.executable).parent / args[0]), *args[1:]], cwd=ROOT, check=True)


def fmt(stats: dict | None, digits: int = 3) -> str:
    """mean ± half-width of the 95% interval (mean alone for one seed; - when missing)."""
    if not stats:
        return "-"
    text = f"{stats['mean']:.{digits}f}"
    if stats.get("ci95"):
        text += f" ± {(stats['ci95'][1] - stats['ci95'][0]) / 2:.{digits}f}"
    return text
