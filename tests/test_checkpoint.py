"""Checkpoints and the reference cache: round trips, hostile and broken files, keys and names."""

import pickle

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord

from fedunlearn import config as cfg
from fedunlearn.runtime.checkpoint import (
    CheckpointError,
    ModelCache,
    RunCheckpoints,
    load,
    original_key,
    reference_key,
    safe_name,
    save,
)
from fedunlearn.runtime.phase import Cost, PhaseResult


def _phase(value: float) -> PhaseResult:
    arrays = ArrayRecord({"w": Array(np.full((2, 3), value, np.float32)), "n": Array(np.array([4], np.int64))})
    kept = {"total_examples": 9, "examples": 4, "arrays": ArrayRecord({"w": Array(np.ones(3, np.float32))})}
    return PhaseResult(arrays, Cost(rounds=3, client_rounds=7, bytes_down=10, bytes_up=20, seconds=1.5, failures=2),
                       history=[{"round": 1, "train-loss": 0.5}], details={"classes": [1, 2]}, kept=kept)


def test_a_phase_round_trips_exactly(tmp_path):
    store = RunCheckpoints(tmp_path)
    store.save_phase(0, "fucrt[fucrt-lambda-local=0]", _phase(0.25))
    back = store.load_phase(0, "fucrt[fucrt-lambda-local=0]")
    assert np.array_equal(back.arrays["w"].numpy(), np.full((2, 3), 0.25, np.float32))
    assert back.arrays["n"].numpy().dtype == np.int64
    assert back.cost == Cost(rounds=3, client_rounds=7, bytes_down=10, bytes_up=20, seconds=1.5, failures=2)
    assert back.history == [{"round": 1, "train-loss": 0.5}] and back.details == {"classes": [1, 2]}
    assert back.kept["total_examples"] == 9 and np.array_equal(back.kept["arrays"]["w"].numpy(), np.ones(3))
    assert store.load_phase(1, "fucrt[fucrt-lambda-local=0]") is None  # another seed


def test_finishing_a_phase_removes_its_round_checkpoint(tmp_path):
    store = RunCheckpoints(tmp_path)
    store.save_round(0, "original", 4, _phase(1.0).arrays, {"cost": Cost().to_dict()}, {1: {"a": 1.0}}, {})
    saved = store.load_round(0, "original")
    assert saved["round"] == 4 and saved["train"] == {1: {"a": 1.0}}
    store.save_phase(0, "original", _phase(1.0))
    assert store.load_round(0, "original") is None


def test_labels_cannot_reach_outside_the_checkpoint_folder(tmp_path):
    store = RunCheckpoints(tmp_path)
    for label in ("../../etc/passwd", "/abs", "a/b", "..", "fucrt[x=1;y=2]"):
        path = store.phase_file(0, label).resolve()
        assert path.parent == store.seed_dir(0).resolve(), label
    assert safe_name("a/b") != safe_name("a_b")  # sanitised names stay distinct


def test_a_truncated_or_corrupt_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "c.pt"
    save(path, {"w": torch.ones(1000)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"c\.pt: not a readable checkpoint"):
        load(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"c\.pt"):
        load(path)


class Boom:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_a_file_that_would_run_code_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"w": Boom()}, path)  # pickles a call to exec
    with pytest.raises(CheckpointError, match="evil.pt"):
        load(path)
    assert not (tmp_path / "PWNED").exists()
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError):
        load(path)
    assert not (tmp_path / "PWNED").exists()


def test_the_reference_key_changes_with_what_shapes_the_reference_only(tmp_path):
    base = cfg.validate({"unlearn-methods": "finetune"})
    key = reference_key(base)
    for change in ({"seed": 1}, {"num-clients": 5}, {"forget-class": 2}, {"fault-rate": 0.1}, {"local-epochs": 3}):
        assert reference_key({**base, **change}) != key, change
    for same in ({"unlearn-methods": "fucrt"}, {"unlearn-rounds": 9}, {"name": "x"}, {"fucrt-temperature": 0.1},
                 {"verdict-tolerance": 0.5}, {"out-dir": "/tmp/x"}, {"cache-dir": "elsewhere"}, {"mia-samples": 500}):
        assert reference_key({**base, **same}) == key, same
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((4, 2)), y=np.arange(4))
    with_file = {**base, "dataset": "npz", "data-path": str(data)}
    first = reference_key(with_file)
    np.savez(data, x=np.ones((4, 2)), y=np.arange(4))  # same path, other contents
    assert reference_key(with_file) != first


def test_the_original_key_leaves_the_request_out_but_not_the_kept_client(tmp_path):
    base = cfg.validate({"unlearn-methods": "finetune"})
    key = original_key(base, None)
    for same in ({"forget-class": 5}, {"then-forget-classes": "7"}, {"forget-class": -1, "forget-client": 2},
                 {"forget-class": -1, "forget-samples": 0.3}, {"unlearn-methods": "fucrt"}, {"name": "x"},
                 {"forget-class": -1, "forget-backdoor": True}):
        assert original_key({**base, **same}, None) == key, same
    for change in ({"seed": 1}, {"partitioner": "iid"}, {"backdoor-client": 1}, {"num-server-rounds": 3},
                   {"class-imbalance": 10.0}, {"model": "mlp"}, {"amp": True}):
        assert original_key({**base, **change}, None) != key, change
    assert original_key(base, 2) != key  # a phase that keeps client 2's model serves gradient ascent on client 2
    folder = tmp_path / "idx"
    folder.mkdir()
    (folder / "a").write_bytes(b"1")
    with_folder = {**base, "dataset": "idx", "data-path": str(folder)}
    first = original_key(with_folder, None)
    (folder / "a").write_bytes(b"2")  # a data folder: its files' contents count
    assert original_key(with_folder, None) != first


def test_the_model_cache_stores_and_finds_by_key(tmp_path):
    config = cfg.validate({"unlearn-methods": "finetune"})
    cache = ModelCache(tmp_path / "cache")
    key = reference_key(config)
    assert cache.load(key) is None
    path = cache.save(key, _phase(2.0))
    assert path.parent == (tmp_path / "cache" / "reference") and path.stem == key
    assert np.array_equal(cache.load(reference_key({**config, "unlearn-methods": "fucrt"})).arrays["w"].numpy(),
                          np.full((2, 3), 2.0, np.float32))
    assert cache.load(reference_key({**config, "seed": 5})) is None
    assert ModelCache(tmp_path / "cache", "original").file(key).parent == tmp_path / "cache" / "original"
