"""Commands the experiment scripts run: `fedunlearn run` as a user types it, and the mean ± half-interval they print."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fedunlearn.evaluation.stats import interval_text
from fedunlearn.reporting.seeds import recombine

ROOT = Path(__file__).resolve().parents[1]

# The first lines of a page of timings: its measurements are not committed as data, so no command rebuilds it from
# data (tests/test_pages.py checks that every other page rebuilds, and that these say so).
MEASURED_NOTE = ("**Measured, not rebuilt:** the timings on this page were measured when it was written and are not "
                 "committed as data, so no command rebuilds it from committed files; running its command measures "
                 "again, on the machine it runs on.")


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
    """mean ± half-width of the 95% interval, [low, high] where it is truncated at a bound, the count where
    every seed sits at a bound (mean alone for one seed; - when missing)."""
    if not stats:
        return "-"
    return f"{stats['mean']:.{digits}f}" + interval_text(stats, digits, sep=" ")


def load_run(path: Path) -> dict:
    """A finished run's report.json, its models combined again under the current definitions (as `fedunlearn
    report` does): a page never shows an Avg Gap or a verdict by older rules."""
    import json

    return recombine(json.loads(Path(path).read_text(encoding="utf-8")))
