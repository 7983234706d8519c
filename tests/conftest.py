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

