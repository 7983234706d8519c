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
