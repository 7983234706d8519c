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
    """One array cache for the session (fedunlearn/arraycache.py), not the user's: the first test computes
    the split and partitions, later tests and their Ray workers read them back."""
    import tempfile

    if "FEDUNLEARN_CACHE_DIR" not in os.environ:
        os.environ["FEDUNLEARN_CACHE_DIR"] = config._fedunlearn_arrays = tempfile.mkdtemp(prefix="fedunlearn-arrays-")


def pytest_unconfigure(config):
    import shutil

    if getattr(config, "_fedunlearn_arrays", None):
        shutil.rmtree(config._fedunlearn_arrays, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test`` runs ``-n auto --dist loadgroup``) the tests that start Ray run in one
    worker, one after another (two Ray clusters at once would only fight over the cores), and the deployment
    tests (real SuperLink and SuperNode processes, mostly waiting on each other's polls) in another, beside
    them; unit tests go wherever a worker is free, except test_plugins.py's, which install a plugin into the
    environment every Ray worker loads its methods from."""
    for item in items:
        module = item.module.__name__
        if module == "test_deployment" and "ray_cluster" not in item.name:
            item.add_marker(pytest.mark.xdist_group("deployment"))
        elif item.get_closest_marker("e2e") is not None or "ray_cluster" in item.name or module == "test_plugins":
            item.add_marker(pytest.mark.xdist_group("ray"))
