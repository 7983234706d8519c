import numpy as np
import pytest

from fedunlearn.algorithms.federaser import UpdateStore, recorded_rounds, rescale


def test_recorded_rounds():
    assert recorded_rounds(10, 3) == [1, 4, 7, 10]
    assert recorded_rounds(5, 1) == [1, 2, 3, 4, 5]


def test_rescaling_keeps_the_calibrated_direction_and_the_recorded_length():
    calibrated = {"a": np.array([3.0, 0.0]), "b": np.array([4.0])}  # length 5
    recorded = {"a": np.array([0.0, 1.0]), "b": np.array([0.0])}  # length 1
    out = rescale(calibrated, recorded)
    assert out["a"] == pytest.approx([0.6, 0.0]) and out["b"] == pytest.approx([0.8])
    assert rescale({"a": np.zeros(2)}, {"a": np.ones(2)})["a"] == pytest.approx([0.0, 0.0])


def test_store_round_trips_counts_bytes_and_respects_its_bound(tmp_path):
    store = UpdateStore(max_bytes=3000)
    update = {"w": np.arange(100, dtype=np.float32)}  # 400 bytes of data, a little more on disk
    for client in range(3):
        store.save(1, client, update, num_examples=10 + client)
    assert store.rounds == {1: {0: 10, 1: 11, 2: 12}}
    assert np.array_equal(store.load(1, 2)["w"], update["w"])
    files = sorted(store.path.rglob("*.npz"))
    assert len(files) == 3 and store.bytes == sum(f.stat().st_size for f in files) >= 1200
    with pytest.raises(RuntimeError, match="federaser-max-mb"):
        for client in range(3, 10):
            store.save(2, client, update, num_examples=1)
    assert store.bytes <= 3000
    store.close()
    assert not store.path.exists()


def test_a_store_in_a_run_folder_is_found_again_after_an_interruption(tmp_path):
    store = UpdateStore(max_bytes=10_000, path=tmp_path / "rec")
    store.save(1, 0, {"w": np.ones(4, np.float32)}, num_examples=7)
    store.save(3, 2, {"w": np.full(4, 2.0, np.float32)}, num_examples=5)
    again = UpdateStore(max_bytes=10_000, path=tmp_path / "rec")  # a resumed run reopens it
    assert again.rounds == {1: {0: 7}, 3: {2: 5}} and again.bytes == store.bytes > 0
    assert np.array_equal(again.load(3, 2)["w"], np.full(4, 2.0, np.float32))
    again.save(3, 2, {"w": np.zeros(4, np.float32)}, num_examples=5)  # a round done again replaces its record
    assert again.bytes == store.bytes
    (tmp_path / "rec" / "round-00001" / "client-000000.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RuntimeError, match="client-000000.npz: not a readable recorded update"):
        again.load(1, 0)
