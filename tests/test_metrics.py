import math

import numpy as np
import pytest

from fedunlearn.backdoor import add_trigger, attack_success_rate, poisoned_indices, trigger_size
from fedunlearn.privacy import nearest_neighbour_mia, neighbour_classes, output_features, population_mia
from fedunlearn.similarity import linear_cka, mean_kl
from fedunlearn.stats import metric_verdict, overall_verdict, summary


def test_output_features_of_hand_made_probabilities():
    feats = output_features(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([0, 0]))
    assert feats[0] == pytest.approx([0.5, math.log(2), math.log(2)])  # -(.5)ln.5 - .5 ln(1-.5)
    assert feats[1] == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)


def _confident(rng, n, sharp):
    """Probabilities over 3 classes with label 0, confidence drawn around ``sharp``."""
    p0 = np.clip(rng.normal(sharp, 0.03, n), 0.34, 0.999)
    rest = (1 - p0) / 2
    return output_features(np.stack([p0, rest, rest], 1), np.zeros(n, int))


def test_population_mia_separates_separable_distributions():
    rng = np.random.default_rng(0)
    members, nonmembers = _confident(rng, 400, 0.95), _confident(rng, 400, 0.6)
    result = population_mia(members, nonmembers, _confident(rng, 100, 0.95), seed=0)
    assert result["mia_auc"] > 0.99 and result["mia"] > 0.95
    assert population_mia(members, nonmembers, _confident(rng, 100, 0.6), seed=0)["mia"] < 0.05


def test_population_mia_calls_outputs_beyond_the_non_members_non_members():
    """A retrained model gives a class it never saw near-zero confidence: further from members than any
    non-member. The attack must call such samples non-members, not fall back to its intercept."""
    rng = np.random.default_rng(4)
    members, nonmembers = _confident(rng, 400, 0.95), _confident(rng, 400, 0.75)
    p = np.full((100, 3), 0.4995)
    p[:, 0] = 0.001
    never_seen = output_features(p, np.zeros(100, int))
    assert population_mia(members, nonmembers, never_seen, seed=0)["mia"] == 0.0


def test_population_mia_on_identical_distributions_is_chance():
    rng = np.random.default_rng(1)
    result = population_mia(_confident(rng, 600, 0.8), _confident(rng, 600, 0.8), _confident(rng, 300, 0.8), seed=0)
    assert abs(result["mia_auc"] - 0.5) < 0.08
    assert 0.2 < result["mia"] < 0.8


def test_population_mia_is_seeded():
    rng = np.random.default_rng(2)
    args = (_confident(rng, 300, 0.9), _confident(rng, 300, 0.7), _confident(rng, 50, 0.8))
    assert population_mia(*args, seed=3) == population_mia(*args, seed=3)


def test_neighbour_classes_follow_the_mean_inputs():
    # Class means along directions: class 0 = e0; class 1 = e0 + small e1; class 2 = e1; class 3 = -e0.
    x = np.array([[1, 0], [1, 0.2], [0, 1], [-1, 0.1]], dtype=np.float32).reshape(4, 1, 1, 2)
    assert neighbour_classes(x, np.array([0, 1, 2, 3]), 0, k=2) == [1, 2]
    # Forgetting 0 and 2: neighbours among {1, 3} of each, k=1: class 1 for both.
    assert neighbour_classes(x, np.array([0, 1, 2, 3]), (0, 2), k=1) == [1]
    # Forgetting 1 and 3, k=1: class 0 is nearest to 1, class 2 to 3 (cos 0.10 against 0's -0.99): the union.
    assert neighbour_classes(x, np.array([0, 1, 2, 3]), (1, 3), k=1) == [0, 2]


def test_nearest_neighbour_mia_is_chance_on_one_distribution_and_high_on_two():
    rng = np.random.default_rng(0)
    same = rng.dirichlet([1, 5, 3, 1], 200)
    assert abs(nearest_neighbour_mia(same[:150], same[150:], [1, 2], seed=0) - 0.5) < 0.15
    shifted = rng.dirichlet([1, 1, 8, 1], 50)
    assert nearest_neighbour_mia(same[:150], shifted, [1, 2], seed=0) > 0.9


def test_kl_of_known_distributions():
    p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    assert mean_kl(p, q) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75))
    assert mean_kl(p, p) == pytest.approx(0.0)
    assert mean_kl(np.zeros((0, 2)), np.zeros((0, 2))) is None


def test_cka_identity_orthogonal_scaling_and_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 10))
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, x @ q) == pytest.approx(1.0)
    assert linear_cka(x, 3.0 * x + 1.0) == pytest.approx(1.0)
    assert linear_cka(x, rng.normal(size=(2000, 16))) < 0.02


def test_confidence_interval_of_known_samples():
    s = summary([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == 1.0 and s["n"] == 3
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * std / sqrt(n)
    assert s["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert summary([0.5]) == {"mean": 0.5, "std": None, "ci95": None, "n": 1}
    assert summary([None, 1.0, 3.0])["n"] == 2 and summary([None]) is None


def test_verdict_logic():
    assert metric_verdict({"mean": 0.0, "ci95": [0.0, 0.0]}, 0.02) == "within"
    assert metric_verdict({"mean": 0.01, "ci95": [-0.015, 0.019]}, 0.02) == "within"
    assert metric_verdict({"mean": 0.5, "ci95": [0.4, 0.6]}, 0.02) == "differs"
    assert metric_verdict({"mean": -0.5, "ci95": [-0.6, -0.4]}, 0.02) == "differs"
    assert metric_verdict({"mean": 0.01, "ci95": [-0.05, 0.07]}, 0.02) == "inconclusive"
    assert metric_verdict({"mean": 0.01, "ci95": None}, 0.02) == "within"  # single seed: the point gap
    assert metric_verdict(None, 0.02) is None
    assert overall_verdict({"a": "within", "b": None}, 3) == "indistinguishable from retrain on these metrics (3 seeds, 95% intervals)"
    assert overall_verdict({"a": "differs", "b": "inconclusive", "c": "within"}, 1) == (
        "differs from retrain on a; inconclusive on b (single seed: no interval)")


def test_trigger_and_attack_success_rate():
    assert [trigger_size((1, 8, 8)), trigger_size((1, 28, 28)), trigger_size((3, 32, 32))] == [2, 3, 4]
    x = np.zeros((2, 1, 8, 8), np.float32)
    triggered = add_trigger(x)
    assert triggered[:, :, -2:, -2:].min() == 1.0 and triggered.sum() == 2 * 4 and x.sum() == 0
    assert attack_success_rate(np.array([7, 7, 1, 7]), np.array([0, 1, 2, 7]), target=7) == pytest.approx(2 / 3)
    held = np.arange(100, 120)
    chosen = poisoned_indices(held, 0.25, seed=1)
    assert len(chosen) == 5 and set(chosen) <= set(held)
    assert np.array_equal(chosen, poisoned_indices(held, 0.25, seed=1))
