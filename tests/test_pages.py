"""Every committed page under experiments/results/ is rebuilt from committed data by the command it names, computing
nothing, and must come out byte for byte the same; a page of timings, whose measurements are not committed, says so in
its first lines instead."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
sys.path.insert(0, str(ROOT / "experiments"))

from commands import MEASURED_NOTE  # noqa: E402

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
BENCH = "fedunlearn bench experiments/bench/{}.toml --out experiments/results"
# page -> (the command the page names, the files the command writes besides the page)
REBUILT = {
    "benchmark.md": (BENCH.format("default"), ["benchmark.json", "benchmark.html", "plots/benchmark"]),
    "fashion-mnist.md": (BENCH.format("fashion-mnist"), ["fashion-mnist.json", "fashion-mnist.html",
                                                         "plots/fashion-mnist"]),
    "fashion-mnist-shared-lr.md": (BENCH.format("fashion-mnist-shared-lr"),
                                   ["fashion-mnist-shared-lr.json", "fashion-mnist-shared-lr.html",
                                    "plots/fashion-mnist-shared-lr"]),
    "fashion-mnist-learning-rate.md": (BENCH.format("fashion-mnist-learning-rate"),
                                       ["fashion-mnist-learning-rate.json", "fashion-mnist-learning-rate.html",
                                        "plots/fashion-mnist-learning-rate"]),
    "fashion-mnist-sweep.md": (BENCH.format("fashion-mnist-sweep"),
                               ["fashion-mnist-sweep.json", "fashion-mnist-sweep.html", "plots/fashion-mnist-sweep"]),
    "amp.md": (BENCH.format("amp"), ["amp.json", "amp.html", "plots/amp"]),
    "fashion-mnist-leakage.md": (BENCH.format("fashion-mnist-leakage"),
                                 ["fashion-mnist-leakage.json", "fashion-mnist-leakage.html",
                                  "plots/fashion-mnist-leakage"]),
    "leakage.md": ("experiments/leakage.py report", []),
    "fashion-mnist-tuning.md": (BENCH.format("fashion-mnist-tuning"),
                                ["fashion-mnist-tuning.json", "fashion-mnist-tuning.html",
                                 "plots/fashion-mnist-tuning", "../tuned/fashion-mnist.toml"]),
    "digits-tuning.md": (BENCH.format("digits-tuning"),
                         ["digits-tuning.json", "digits-tuning.html", "plots/digits-tuning", "../tuned/digits.toml"]),
    "claims.md": ("experiments/claims.py", ["fashion-mnist.html"]),  # the leaderboard shows the claims
    "claims-shared-lr.md": ("experiments/claims.py --bench experiments/results/fashion-mnist-shared-lr.json "
                            "--out experiments/results/claims-shared-lr.md", ["fashion-mnist-shared-lr.html"]),
    "fucrt.md": ("experiments/fucrt.py report", []),
    "negation.md": ("experiments/negation.py report", []),
    "faults.md": ("experiments/faults.py report", []),
    "unlearning-checks.md": ("experiments/unlearning_checks.py report", []),
}
# Pages of timings: their measurements are not committed, so only measuring again rewrites them.
MEASURED = ("evaluator.md", "fashion-mnist-models.md", "floor.md", "overhead.md", "profile.md", "scale.md",
            "startup.md")
RUN_REPORTS = sorted(p.parent.relative_to(RESULTS) for p in RESULTS.rglob("report.json"))


def _argv(command: str) -> list[str]:
    """The command as the page names it, run with this environment's Python (``fedunlearn`` is its script)."""
    words = command.split()
    if words[0] == "fedunlearn":
        return [sys.executable, "-m", "fedunlearn", *words[1:]]
    return [sys.executable, *words]


@pytest.fixture
def checkout(tmp_path):
    """A copy of experiments/ (suites, scripts and results) to rebuild pages in, leaving the repository untouched."""
    shutil.copytree(ROOT / "experiments", tmp_path / "experiments", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _same_tree(expected: Path, rebuilt: Path) -> list[str]:
    if expected.is_file():
        return [] if expected.read_bytes() == rebuilt.read_bytes() else [str(expected.relative_to(RESULTS))]
    return [str(p.relative_to(RESULTS)) for p in sorted(expected.rglob("*")) if p.is_file()
            and p.read_bytes() != (rebuilt / p.relative_to(expected)).read_bytes()]


def test_every_page_is_rebuilt_or_says_it_is_measured():
    pages = {str(p.relative_to(RESULTS)) for p in RESULTS.rglob("*.md")}
    reports = {str(run / "report.md") for run in RUN_REPORTS}
    assert pages == set(REBUILT) | set(MEASURED) | reports
    for page in MEASURED:
        assert MEASURED_NOTE in (RESULTS / page).read_text(encoding="utf-8").split("\n")[:5], page


@pytest.mark.parametrize("page", sorted(REBUILT))
def test_a_page_rebuilds_byte_for_byte_from_committed_data(page, checkout):
    command, others = REBUILT[page]
    text = (RESULTS / page).read_text(encoding="utf-8")
    assert f"`{command}`" in text or f"`python {command}`" in text, f"{page} does not name {command!r}"
    if "fashion-mnist" in command and not FASHION_MNIST.is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist; .ci/run does)")
    rebuilt = checkout / "experiments" / "results"
    for name in [page, *others]:  # nothing left from the committed copy: the command must write each one
        path = rebuilt / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    argv = _argv(command) + (["--page-only"] if command.startswith("fedunlearn bench") else [])
    done = subprocess.run(argv, cwd=checkout, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "computing nothing" in done.stderr + done.stdout or not command.startswith("fedunlearn bench")
    differ = [d for name in [page, *others] for d in _same_tree(RESULTS / name, rebuilt / name)]
    assert differ == []


def test_run_reports_rebuild_from_their_report_json(checkout):
    """``fedunlearn report DIR...`` (a run's report.md is made from its report.json) gives the committed report.md
    and plots of every run folder under experiments/results/."""
    rebuilt = [checkout / "experiments" / "results" / run for run in RUN_REPORTS]
    for folder in rebuilt:
        (folder / "report.md").unlink()
        (folder / "report.html").unlink(missing_ok=True)
        shutil.rmtree(folder / "plots", ignore_errors=True)
    done = subprocess.run(_argv(f"fedunlearn report {' '.join(map(str, rebuilt))}"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    differ = [d for run, folder in zip(RUN_REPORTS, rebuilt) for name in ("report.md", "report.html", "plots")
              if (RESULTS / run / name).exists() for d in _same_tree(RESULTS / run / name, folder / name)]
    assert len(RUN_REPORTS) >= 10 and differ == []


SUITES = sorted(RESULTS.glob("*.json"))


@pytest.mark.parametrize("suite", SUITES, ids=[p.stem for p in SUITES])
def test_committed_intervals_stay_within_their_metrics_bounds(suite):
    """Every 95% interval a committed suite reports lies within its number's range (``seeds.bounds_of``: a share in
    [0, 1], a gap in [-1, 1], a cost at least 0), every metric has a range, and a number on a bound on every seed has
    no interval at all."""
    from fedunlearn.reporting.seeds import bounds_of

    data = json.loads(suite.read_text(encoding="utf-8"))
    outside, checked = [], 0
    for name, scenario in data.get("scenarios", {}).items():
        for model, entry in scenario["models"].items():
            for key, stat in (entry.get("stats") or {}).items():
                bounds, interval = bounds_of(key), (stat or {}).get("ci95")
                if bounds is None and key.startswith("metrics."):
                    outside.append(f"{name}/{model}/{key}: a metric without a range")
                if bounds is None or interval is None:
                    continue
                checked += 1
                if interval[0] < bounds[0] - 1e-12 or interval[1] > bounds[1] + 1e-12:
                    outside.append(f"{name}/{model}/{key}: {interval}")
                if stat.get("at_bound") is not None:
                    outside.append(f"{name}/{model}/{key}: an interval beside at_bound")
    assert (checked > 0 or len(data.get("seeds", [])) < 2) and outside == []
