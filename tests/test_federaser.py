import numpy as np
import pytest

from fedunlearn.algorithms.federaser import UpdateStore, average, calibrated_step, first_round, recorded_rounds


def test_recorded_rounds():
    assert recorded_rounds(10, 3) == [1, 4, 7, 10]
    assert recorded_rounds(5, 1) == [1, 2, 3, 4, 5]


def test_calibration_is_per_layer_on_the_averaged_updates():
    """The authors' unlearning_step_once, computed here from its formula: per state-dict entry l,
    new[l] = global[l] + ||mean old[l]|| * mean cal[l] / ||mean cal[l]||."""
    glob = {"w": np.array([1.0, 1.0], np.float32), "b": np.array([0.5], np.float32), "n": np.array(7)}
    old = [{"w": np.array([0.0, 2.0]), "b": np.array([1.0])}, {"w": np.array([0.0, 0.0]), "b": np.array([3.0])}]
    cal = [{"w": np.array([3.0, 0.0]), "b": np.array([-1.0])}, {"w": np.array([3.0, 8.0]), "b": np.array([-1.0])}]
    recorded, calibrated = average(old, [1, 1]), average(cal, [1, 1])
    assert recorded["w"] == pytest.approx([0.0, 1.0]) and calibrated["w"] == pytest.approx([3.0, 4.0])
    out = calibrated_step(glob, recorded, calibrated)
    # w: length 1 along (3, 4)/5; b: length 2 along -1; the integer counter is kept
    assert out["w"] == pytest.approx([1.6, 1.8]) and out["b"] == pytest.approx([-1.5]) and out["n"] == 7
    assert out["w"].dtype == np.float32
    # one length for the whole model would give w and b a share of sqrt(1 + 4) instead: the per-layer rule differs
    assert calibrated_step(glob, recorded, {"w": np.zeros(2), "b": np.array([2.0])})["w"] == pytest.approx([1.0, 1.0])


def test_weighted_average_and_the_exact_first_round():
    updates = [{"w": np.array([1.0, 0.0])}, {"w": np.array([0.0, 4.0])}]
    assert average(updates, [3, 1])["w"] == pytest.approx([0.75, 1.0])
    initial = {"w": np.array([1.0, 1.0], np.float32), "n": np.array(0)}
    out = first_round(initial, average(updates, [1, 1]))
    assert out["w"] == pytest.approx([1.5, 3.0]) and out["n"] == 0
    with pytest.raises(ValueError):
        average([], [])


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
