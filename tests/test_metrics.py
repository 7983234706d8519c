import math

import numpy as np
import pytest

from fedunlearn.data.backdoor import add_trigger, attack_success_rate, poisoned_indices, trigger_size
from fedunlearn.evaluation.membership import (
    nearest_neighbour_mia,
    neighbour_classes,
    output_features,
    population_mia,
    salun_features,
    salun_mia_efficacy,
    svc_share_called_members,
)
from fedunlearn.evaluation.similarity import linear_cka, mean_kl
from fedunlearn.evaluation.stats import metric_verdict, overall_verdict, summary


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
    assert result["mia_auc"] > 0.99 and result["mia_joint_members"] > 0.95
    assert population_mia(members, nonmembers, _confident(rng, 100, 0.6), seed=0)["mia_joint_members"] < 0.05


def test_population_mia_calls_outputs_beyond_the_non_members_non_members():
    """A retrained model gives a class it never saw near-zero confidence: further from members than any
    non-member. The attack must call such samples non-members, not fall back to its intercept."""
    rng = np.random.default_rng(4)
    members, nonmembers = _confident(rng, 400, 0.95), _confident(rng, 400, 0.75)
    p = np.full((100, 3), 0.4995)
    p[:, 0] = 0.001
    never_seen = output_features(p, np.zeros(100, int))
    assert population_mia(members, nonmembers, never_seen, seed=0)["mia_joint_members"] == 0.0


def test_population_mia_on_identical_distributions_is_chance():
    rng = np.random.default_rng(1)
    result = population_mia(_confident(rng, 600, 0.8), _confident(rng, 600, 0.8), _confident(rng, 300, 0.8), seed=0)
    assert abs(result["mia_auc"] - 0.5) < 0.08
    assert 0.2 < result["mia_joint_members"] < 0.8


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


# SalUn's MIA-efficacy (fedunlearn.evaluation.membership.salun_mia_efficacy), on outputs whose answer is known by hand.

def _probs_with_confidence(confidence, num_classes=3, label=0):
    """Rows whose label gets ``confidence`` and the other classes share the rest equally."""
    confidence = np.asarray(confidence, dtype=np.float64)
    rest = (1 - confidence) / (num_classes - 1)
    probs = np.repeat(rest[:, None], num_classes, axis=1)
    probs[:, label] = confidence
    return probs, np.full(len(confidence), label)


def test_salun_features_as_its_code_computes_them():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.5, 0.0]])
    labels = np.array([0, 2, 0])
    feats = salun_features(probs, labels)
    assert feats["correctness"].ravel().tolist() == [1.0, 0.0, 1.0]
    assert feats["confidence"].ravel() == pytest.approx([0.7, 0.3, 0.5])
    assert feats["entropy"].ravel() == pytest.approx([
        -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)),
        -(0.1 * math.log(0.1) + 0.6 * math.log(0.6) + 0.3 * math.log(0.3)),
        math.log(2)])  # the zero term is left out
    # SalUn's m_entropy: the columns of every label in the set (0 and 2) take 1 - p, every term weighs log p,
    # and log 1e-30 stands in for log 0.
    log0 = math.log(1e-30)
    assert feats["m_entropy"].ravel() == pytest.approx([
        -(0.3 * math.log(0.7) + 0.2 * math.log(0.2) + 0.9 * math.log(0.1)),
        -(0.9 * math.log(0.1) + 0.6 * math.log(0.6) + 0.7 * math.log(0.3)),
        -(0.5 * math.log(0.5) + 0.5 * math.log(0.5) + 1.0 * log0)])
    # ... so one sample's value depends on its set: alone (labels {0}) the first row flips column 0 only.
    alone = salun_features(probs[:1], labels[:1])["m_entropy"].ravel()[0]
    assert alone == pytest.approx(-(0.3 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)))
    assert feats["prob"] is not None and feats["prob"].shape == (3, 3)


def test_salun_efficacy_on_separable_confidences():
    """Members answer with confidence 0.92-0.99, non-members with 0.30-0.50: any SVM splits them between 0.5
    and 0.92. Of the forgotten samples, 6 look like members (0.95) and 4 like non-members (0.4), so SalUn's
    MIA-efficacy (the share called non-members) is 0.4 on confidence."""
    members = _probs_with_confidence(np.linspace(0.92, 0.99, 40))
    nonmembers = _probs_with_confidence(np.linspace(0.30, 0.50, 40))
    forget = _probs_with_confidence([0.95] * 6 + [0.4] * 4)
    result = salun_mia_efficacy(members, nonmembers, forget)
    assert result["confidence"] == pytest.approx(0.4)
    # Direction: forgotten samples that all look unseen score 1, all seen 0 (the reference's side is near 1 on
    # a class it never saw).
    assert salun_mia_efficacy(members, nonmembers, _probs_with_confidence([0.35] * 5))["confidence"] == 1.0
    assert salun_mia_efficacy(members, nonmembers, _probs_with_confidence([0.97] * 5))["confidence"] == 0.0
    # Every member is right and every non-member too (arg-max is the label): correctness cannot tell them
    # apart, the SVM answers one class for everything.
    assert result["correctness"] in (0.0, 1.0)
    assert set(result) == {"correctness", "confidence", "entropy", "m_entropy", "prob"}


def test_merged_duplicate_rows_give_the_plain_svm_answer():
    """The attack merges identical rows into weighted ones: the same predictions as SalUn's plain fit."""
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    members = np.round(rng.beta(8, 1, 600), 2)[:, None]  # saturated outputs repeat: ~60 distinct values
    nonmembers = np.round(rng.beta(4, 2, 600), 2)[:, None]
    targets = np.round(rng.beta(5, 2, 300), 2)[:, None]
    plain = SVC(C=3, gamma="auto", kernel="rbf").fit(np.concatenate([members, nonmembers]),
                                                   np.r_[np.ones(600), np.zeros(600)])
    expected = float(plain.predict(targets).mean())
    assert svc_share_called_members(members, nonmembers, targets) == pytest.approx(expected, abs=1e-12)
    assert 0.2 < expected < 0.9  # a case that separates partly, not a trivial one


def test_salun_efficacy_without_targets_or_sides():
    members = _probs_with_confidence([0.9, 0.95])
    empty = (np.zeros((0, 3)), np.zeros(0, int))
    assert salun_mia_efficacy(members, members, empty)["confidence"] is None
    assert salun_mia_efficacy(empty, members, members)["confidence"] is None


def test_intervals_are_truncated_to_the_range_and_all_at_a_bound_is_a_count():
    from fedunlearn.evaluation.stats import interval_text, summary

    # 0.9, 1.0, 1.0: mean 0.9667, sd 0.0577, t(2) = 4.303: half-width 0.1434 -> [0.8233, 1.1101] truncated at 1
    s = summary([0.9, 1.0, 1.0], bounds=(0.0, 1.0))
    assert s["ci95"][0] == pytest.approx(0.96667 - 4.30265 * 0.057735 / 3 ** 0.5, abs=1e-4) and s["ci95"][1] == 1.0
    assert interval_text(s) == " [0.823, 1.000]"
    full = summary([0.4, 0.5, 0.6], bounds=(0.0, 1.0))  # +-0.248, inside the range: shown as a half-width
    assert interval_text(full) == " ±0.248" and interval_text(full, sep=" ") == " ± 0.248"
    zeros = summary([0.0, 0.0, 0.0, 0.0, 0.0], bounds=(0.0, 1.0))
    assert zeros["ci95"] is None and zeros["at_bound"] == 0.0 and interval_text(zeros) == " (5/5 seeds at 0)"
    assert summary([0.0, 0.0], bounds=None)["ci95"] == [0.0, 0.0]  # unbounded: no count
    assert interval_text(summary([0.3])) == ""


def test_holm_rejects_step_down_at_the_family_level():
    from fedunlearn.evaluation.stats import holm

    # m = 4, alpha 0.05: 0.01 <= 0.0125 yes, 0.015 <= 0.0167 yes, 0.03 > 0.025 stop: 0.04 not tested
    assert holm({"a": 0.03, "b": 0.01, "c": 0.04, "d": 0.015}) == {"a": False, "b": True, "c": False, "d": True}
    assert holm({"a": 0.02}) == {"a": True} and holm({}) == {}
