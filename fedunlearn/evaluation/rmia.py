"""RMIA, the per-example membership attack with reference models (Zarifzadeh, Liu and Shokri, "Low-cost high-power
membership inference attacks", ICML 2024), in its offline form, as the authors' code computes it.

For a target model theta, a sample x and population samples z that no model trained on:

- Pr(x | theta) is the model's probability of x's label (its softmax output p_y);
- Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2, Pr_OUT(x) the mean of Pr(x | theta_ref) over reference models trained
  **without** x (the offline approximation of the mean over IN and OUT models; ``a`` is the paper's offline factor);
- the score of x is the share of z whose likelihood ratio x beats by more than ``gamma``:
  ``Score(x) = Pr_z[ (Pr(x|theta) / Pr(x)) / (Pr(z|theta) / Pr(z)) > gamma ]``.

A high score says "member". In a federation the reference models are federations retrained from scratch without the
forgotten data: the retrained reference itself is one, further replicates (other initialisations and client samples)
are more. Members are the forgotten samples, non-members held-out samples of the same classes; the attack's AUC and
its TPR at a low FPR say how well it tells them apart on each model (the retrained reference's values are the
target: it never saw either group). Pure functions of probabilities; ``docs/evaluator.md`` explains the choices.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

# The authors' code (privacy_meter's research code, ``run_rmia``) compares the ratios with 1.0 and starts its offline
# factor at 0.3 (it tunes ``a`` on a paired model trained on other data: here every reference is OUT for the
# samples attacked, so there is no IN model to tune it on, and the default is kept).
GAMMA = 1.0
OFFLINE_A = 0.3
LOW_FPRS = {"tpr_1pct": 0.01, "tpr_01pct": 0.001}  # TPR is reported at these false-positive rates
EPS = 1e-30  # probabilities are floored here: a model certain a label is wrong still has a finite ratio


def label_likelihood(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Pr(x | theta): each row's probability of its label."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]


def likelihood_ratio(target: np.ndarray, references: np.ndarray, a: float = OFFLINE_A) -> np.ndarray:
    """Pr(x | theta) / Pr(x) per sample.

    ``target``: (n,) the target model's Pr(x | theta); ``references``: (k, n) the OUT reference models' values (k >= 1).
    """
    references = np.atleast_2d(np.asarray(references, dtype=np.float64))
    if references.shape[0] == 0:
        raise ValueError("RMIA needs at least one reference model")
    prior = ((1 + a) * references.mean(axis=0) + (1 - a)) / 2
    return np.maximum(np.asarray(target, dtype=np.float64), EPS) / np.maximum(prior, EPS)


def rmia_scores(target_x: np.ndarray, references_x: np.ndarray, target_z: np.ndarray, references_z: np.ndarray,
                a: float = OFFLINE_A, gamma: float = GAMMA) -> np.ndarray:
    """RMIA's score of every x: the share of population samples z with ratio(x) / ratio(z) > gamma.

    ``target_x`` (n,) and ``references_x`` (k, n): Pr(x | .) of the samples attacked under the target and the
    reference models; ``target_z`` (m,) and ``references_z`` (k, m): the same for the population samples. Counting
    ratio(z) < ratio(x) / gamma on the sorted ratios is the authors' pairwise comparison in O((n + m) log m).
    """
    ratio_x = likelihood_ratio(target_x, references_x, a)
    ratio_z = np.sort(likelihood_ratio(target_z, references_z, a))
    if len(ratio_z) == 0:
        raise ValueError("RMIA needs population samples")
    return np.searchsorted(ratio_z, ratio_x / gamma, side="left") / len(ratio_z)


def matching_weights(labels: np.ndarray, to_match: np.ndarray) -> np.ndarray:
    """Weights for samples with ``labels`` under which their class shares equal those of ``to_match`` (a class of
    ``labels`` absent from ``to_match`` gets weight 0). The weights sum to len(labels)."""
    labels, to_match = np.asarray(labels), np.asarray(to_match)
    classes, counts = np.unique(labels, return_counts=True)
    wanted = {c: np.mean(to_match == c) for c in classes}
    per_class = {c: wanted[c] / (n / len(labels)) for c, n in zip(classes, counts)}
    weights = np.array([per_class[c] for c in labels], dtype=np.float64)
    return weights * (len(labels) / weights.sum()) if weights.sum() > 0 else weights


def attack_roc(member_scores: np.ndarray, nonmember_scores: np.ndarray,
               nonmember_weights: np.ndarray | None = None,
               fprs: Mapping[str, float] = LOW_FPRS) -> dict[str, float | None]:
    """ROC AUC of scores (higher = member) and the TPR at each of ``fprs``: the TPR at the largest threshold whose
    FPR is at most that rate (the convention of LiRA's and RMIA's code). None where a side is empty."""
    keys = ["auc", *fprs]
    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        return dict.fromkeys(keys)
    y = np.concatenate([np.ones(len(member_scores)), np.zeros(len(nonmember_scores))])
    scores = np.concatenate([member_scores, nonmember_scores])
    weights = np.concatenate([np.ones(len(member_scores)),
                              np.ones(len(nonmember_scores)) if nonmember_weights is None else nonmember_weights])
    out = {"auc": float(roc_auc_score(y, scores, sample_weight=weights))}
    fpr, tpr, _ = roc_curve(y, scores, sample_weight=weights)
    for name, rate in fprs.items():
        out[name] = float(tpr[np.flatnonzero(fpr <= rate)[-1]])
    return out
