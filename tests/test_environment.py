"""The set-up is reproducible: what is installed is what constraints.txt pins."""

from importlib import metadata
from pathlib import Path

from fedunlearn.runtime.environment import describe, versions

ROOT = Path(__file__).resolve().parents[1]


def _pins():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))


def test_the_installed_packages_are_the_pinned_ones():
    pins = _pins()
    assert {"flwr", "ray", "torch", "numpy", "scikit-learn", "matplotlib", "rich", "pytest"} <= set(pins)
    wrong = {}
    for name, pinned in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # pinned for an extra that is not installed here
        if installed.split("+")[0] != pinned.split("+")[0]:
            wrong[name] = (installed, pinned)
    assert not wrong, f"installed (left) differs from constraints.txt (right): {wrong}"


def test_results_name_the_versions_they_ran_on():
    assert versions()["flwr"] == _pins()["flwr"] and "flwr " + _pins()["flwr"] in describe()
