import os

# Tests never reach the network: hub loads must fail fast, not wait on timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path, monkeypatch):
    """Each test runs in its own directory, so default paths (runs/, the reference cache in
    runs/cache) never touch the checkout or another test."""
    monkeypatch.chdir(tmp_path)


def pytest_configure(config):
    """One array cache for the session (fedunlearn/data/arraycache.py), not the user's: the first test computes
    the split and partitions, later tests and their Ray workers read them back."""
    import tempfile

    if "FEDUNLEARN_CACHE_DIR" not in os.environ:
        os.environ["FEDUNLEARN_CACHE_DIR"] = config._fedunlearn_arrays = tempfile.mkdtemp(prefix="fedunlearn-arrays-")


def pytest_unconfigure(config):
    import shutil

    if getattr(config, "_fedunlearn_arrays", None):
        shutil.rmtree(config._fedunlearn_arrays, ignore_errors=True)



# The end-to-end runs that several test modules read, one Ray simulation each per session: the scenarios of
# experiments/unlearning_checks.py (seed 0), with the variants tests/test_end_to_end.py checks beside them.
RUN_EXTRAS = {
    "class": ('fucrt[fucrt-selection="nearest-centroid";fucrt-lambda-local=0]', "salun[salun-ratio=0.2]",
              "lra-npp[lra-npp-neurons-share=0.3125;lra-npp-top-k-share=0.5]", "geniu[geniu-generator-steps=20]"),
    "client": ("noise",),
    "sample": (),
}


@pytest.fixture(scope="session")
def scenario_run(tmp_path_factory):
    """``scenario_run(name)``: the folder of the finished seed-0 run of that scenario (computed once a session)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from unlearning_checks import run_config

    from fedunlearn.cli import main

    done: dict[str, Path] = {}

    def run(name: str) -> Path:
        if name not in done:
            out = tmp_path_factory.mktemp(f"{name}-run") / "run"
            assert main(["run", "--run-config", run_config(name, extra=RUN_EXTRAS[name]), "--out", str(out)]) == 0
            done[name] = out
        return done[name]

    return run


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """tests/test_end_to_end.py's SMALL experiment run once, start to end, through ``fedunlearn run``, its original and
    reference stored in ``cache/``: what `flwr run` must reproduce number for number, what interrupted runs resume to,
    and the first of two runs that share a cache."""
    from test_end_to_end import SMALL

    from fedunlearn.cli import main

    folder = tmp_path_factory.mktemp("small")
    assert main(["run", "--run-config", f"{SMALL} cache-dir='{folder / 'cache'}'", "--out", str(folder / "run")]) == 0
    return folder
