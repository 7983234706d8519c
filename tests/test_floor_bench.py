"""The floor benchmark's arithmetic and its diagnosis patch (experiments/bench_floor.py; the runs are the
benchmark's)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from bench_floor import best_ratio, flower_scan, reading, steady  # noqa: E402


def test_flowers_extra_cost_of_an_empty_round_is_added_to_the_pools_training_round():
    # pool trains a round in 0.2 s; Flower's empty round 0.1 s against the pool's 0.02 s: 0.08 s more a round
    assert best_ratio(0.2, 0.1, 0.02) == pytest.approx(1.4)
    assert best_ratio(0.2, 0.02, 0.02) == pytest.approx(1.0)


def test_the_first_round_is_left_out_of_the_steady_state():
    assert steady([5.0, 0.1, 0.3, 0.2]) == pytest.approx(0.2)
    assert steady([0.4]) == pytest.approx(0.4)


def test_the_scan_patch_lasts_for_its_block_only():
    from flwr.server.superlink.fleet.vce import vce_api

    original = vce_api.add_messages_to_queue
    with flower_scan(0.005):
        assert vce_api.add_messages_to_queue is not original
    assert vce_api.add_messages_to_queue is original
    with flower_scan(None):
        assert vce_api.add_messages_to_queue is original


def test_the_reading_adds_rays_share_to_flowers_floor_and_compares_with_the_target():
    # Flower's empty round 0.13 s (0.05 s with the fast scan), the pool's 0.01 s; training 2.0 s, 2.06 s beside Ray
    text = "\n".join(reading(0.13, 0.05, 0.01, 2.0, 2.06, clients=10, target=1.1))
    assert "0.120 s more than the pool" in text and "12.0 ms a client message" in text
    assert "= 1.06x the every-core loop" in text  # (2.0 + 0.12) / 2.0
    assert "(+3.0%)" in text and "**1.09x**" in text and "within reach." in text  # (2.06 + 0.12) / 2.0
    assert "out of reach." in "\n".join(reading(0.10, 0.05, 0.01, 0.2, 0.21, clients=10, target=1.2))
