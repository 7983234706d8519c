"""RMIA (fedunlearn/evaluation/rmia.py) on hand-made likelihoods whose scores are known without running the code, and
against the authors' pairwise formula on random outputs; the robust KL companions on hand-made distributions."""

import math

import numpy as np
import pytest

from fedunlearn.evaluation.rmia import attack_roc, likelihood_ratio, matching_weights, rmia_scores
from fedunlearn.evaluation.similarity import mean_js, mean_kl, median_kl


def test_the_offline_prior_and_ratio_by_hand():
    # Two OUT references give x 0.2 and 0.6: Pr_OUT = 0.4; with a = 0.5, Pr(x) = (1.5 * 0.4 + 0.5) / 2 = 0.55.
    ratio = likelihood_ratio(np.array([0.11]), np.array([[0.2], [0.6]]), a=0.5)
    assert ratio == pytest.approx([0.11 / 0.55])
    # a = 1 trusts the OUT models alone: Pr(x) = Pr_OUT; a = 0 takes an IN model to give 1: Pr(x) = (Pr_OUT + 1) / 2.
    assert likelihood_ratio(np.array([0.3]), np.array([[0.6]]), a=1.0) == pytest.approx([0.5])
    assert likelihood_ratio(np.array([0.38]), np.array([[0.9]]), a=0.0) == pytest.approx([0.4])


def test_scores_count_the_population_samples_each_target_beats():
    # a = 1: ratio = target / reference. Population ratios 0.5, 1, 2, 4 (targets 0.1, 0.2, 0.4, 0.8 over 0.2 each).
    z_target, z_refs = np.array([0.1, 0.2, 0.4, 0.8]), np.full((1, 4), 0.2)
    # x1: 0.9 / 0.3 = 3 beats 0.5, 1, 2 -> 3/4. x2: 0.1 / 0.5 = 0.2 beats none -> 0. x3: 0.5 / 0.1 = 5 beats all -> 1.
    x_target, x_refs = np.array([0.9, 0.1, 0.5]), np.array([[0.3, 0.5, 0.1]])
    assert rmia_scores(x_target, x_refs, z_target, z_refs, a=1.0, gamma=1.0) == pytest.approx([0.75, 0.0, 1.0])
    # gamma = 2: x must beat z by a factor above 2. x1 (3) beats only 0.5 and 1 (3/1 = 3 > 2, 3/2 = 1.5 is not).
    assert rmia_scores(x_target, x_refs, z_target, z_refs, a=1.0, gamma=2.0) == pytest.approx([0.5, 0.0, 0.75])
    # A tie is no win: ratio(x) = ratio(z) = 2 beats 0.5 and 1 only.
    assert rmia_scores(np.array([0.4]), np.array([[0.2]]), z_target, z_refs, a=1.0) == pytest.approx([0.5])


def test_scores_agree_with_the_authors_pairwise_formula():
    # privacy_meter's research code (run_rmia): mean_x = (1 + a) / 2 * mean_out + (1 - a) / 2, ratio = p / mean, and
    # score = np.average(ratio_x[:, None] / ratio_z > 1.0, axis=1), here written out independently.
    rng = np.random.default_rng(7)
    for a, gamma in ((0.3, 1.0), (0.0, 1.0), (1.0, 1.0), (0.6, 2.0)):
        x_t, x_r = rng.uniform(0.01, 1, 300), rng.uniform(0.01, 1, (3, 300))
        z_t, z_r = rng.uniform(0.01, 1, 500), rng.uniform(0.01, 1, (3, 500))
        mean_x = (1 + a) / 2 * x_r.mean(0) + (1 - a) / 2
        mean_z = (1 + a) / 2 * z_r.mean(0) + (1 - a) / 2
        pairwise = np.average((x_t / mean_x)[:, None] / (z_t / mean_z) > gamma, axis=1)
        np.testing.assert_allclose(rmia_scores(x_t, x_r, z_t, z_r, a=a, gamma=gamma), pairwise)


def test_a_model_that_memorised_is_told_apart_and_a_retrained_one_is_not():
    rng = np.random.default_rng(0)
    n = 2000
    hard = rng.uniform(0.05, 0.9, n)  # how likely the OUT models find each sample
    refs = np.clip(hard + rng.normal(0, 0.02, (2, n)), 1e-3, 1)
    members = np.clip(hard + 0.3, 0, 1)  # the target saw them: more confident than its OUT peers
    nonmembers = np.clip(hard + rng.normal(0, 0.02, n), 1e-3, 1)
    z_target = np.clip(hard + rng.normal(0, 0.02, n), 1e-3, 1)
    leaky = attack_roc(rmia_scores(members, refs, z_target, refs), rmia_scores(nonmembers, refs, z_target, refs))
    assert leaky["auc"] > 0.9 and leaky["tpr_1pct"] > 0.2
    retrained = attack_roc(rmia_scores(np.clip(hard + rng.normal(0, 0.02, n), 1e-3, 1), refs, z_target, refs),
                           rmia_scores(nonmembers, refs, z_target, refs))
    assert abs(retrained["auc"] - 0.5) < 0.05


def test_roc_auc_and_tpr_at_low_fpr_by_hand():
    # Members 0.9, 0.8, 0.3; non-members 0.7, 0.2, 0.1, 0.05: 11 of 12 pairs ordered right.
    roc = attack_roc(np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2, 0.1, 0.05]))
    assert roc["auc"] == pytest.approx(11 / 12)
    # At FPR 0 (no non-member above the threshold) two of three members are caught.
    assert roc["tpr_1pct"] == pytest.approx(2 / 3) and roc["tpr_01pct"] == pytest.approx(2 / 3)
    # Weights: the non-member 0.7 weighs nothing, so every pair is ordered right.
    assert attack_roc(np.array([0.9, 0.8, 0.3]), np.array([0.7, 0.2, 0.1, 0.05]),
                      np.array([0.0, 1, 1, 1]))["auc"] == pytest.approx(1.0)
    assert attack_roc(np.array([]), np.array([0.1])) == {"auc": None, "tpr_1pct": None, "tpr_01pct": None}


def test_matching_weights_give_the_members_class_shares():
    held_out = np.array([0, 0, 0, 1, 2])  # shares 3/5, 1/5, 1/5
    members = np.array([0, 1, 1, 1])  # shares 1/4, 3/4, 0
    w = matching_weights(held_out, members)
    assert w.sum() == pytest.approx(5)
    shares = [w[held_out == c].sum() / w.sum() for c in (0, 1, 2)]
    assert shares == pytest.approx([0.25, 0.75, 0.0])


def test_robust_kl_companions_by_hand():
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.5, 0.5], [1e-20, 1.0], [0.5, 0.5]])  # one saturated sample, wrong with certainty
    # Mean KL is dominated by the saturated sample (1 * ln(1 / 1e-12) / 3); the median sees the typical one (0).
    assert mean_kl(p, q) == pytest.approx(math.log(1e12) / 3, rel=1e-6)
    assert median_kl(p, q) == pytest.approx(0.0)
    # JS of two distributions with disjoint support is ln 2; of identical ones 0.
    assert mean_js(p, q) == pytest.approx(math.log(2) / 3, rel=1e-6)
    assert mean_js(np.array([[0.9, 0.1]]), np.array([[0.9, 0.1]])) == pytest.approx(0.0)


def test_each_model_is_attacked_with_retrainings_other_than_itself():
    from fedunlearn.strategies.flow import attack_references, replicates

    pool = {"retrain-2": "r2", "retrain-3": "r3", "retrain": "r1"}
    assert attack_references(pool, "finetune", 2) == ["r2", "r3"]  # any method: the replicates
    assert attack_references(pool, "retrain", 2) == ["r2", "r3"]
    assert attack_references(pool, "retrain-2", 2) == ["r3", "r1"]  # a replicate: the others, never itself
    assert attack_references(pool, "retrain-3", 1) == ["r2"]
    # Replicate 2 serves the noise floor and the attack: trained once.
    assert replicates({"rmia-references": 1, "noise-floor": True}) == [2]
    assert replicates({"rmia-references": 0, "noise-floor": False}) == []
    assert replicates({"rmia-references": 3, "noise-floor": False}) == [2, 3, 4]
