"""FUCRT's algorithms (Guo et al., arXiv 2410.06848), as pure functions: transformation class
selection, relabelling, the two contrastive losses and prototype aggregation, and one client's work in
the selection round and in a transformation round (:func:`client_selection`, :func:`client_transformation`).

The Flower adapters are ``strategies/methods/fucrt.py`` (server) and ``clients/handlers/fucrt.py``
(client). Where the paper leaves a detail open, the choice is stated here and in docs/methods/fucrt.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fedunlearn.learning.models import Classifier
from fedunlearn.learning.training import TrainSettings, predict, train


def local_transformation_set(
    probs: np.ndarray, labels: np.ndarray, forget_class: int, threshold: float
) -> tuple[list[int], np.ndarray]:
    """A client's proposed transformation classes, from the original model's probabilities.

    Over the client's forgotten-class samples that the model classifies correctly, the class holding the
    second-highest probability of each sample receives that probability. A class is proposed when its
    share of the summed mass is at least ``threshold`` (the paper's threshold is open: a share makes it
    independent of the client's sample count). When no class passes, the one with the largest mass is.

    Returns
    -------
    (classes, sums)
        The proposed classes (by decreasing mass) and the summed second-highest probability per class.
    """
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    num_classes = probs.shape[1]
    sums = np.zeros(num_classes)
    mine = (labels == forget_class) & (probs.argmax(axis=1) == forget_class)
    if not mine.any():
        return [], sums
    ranked = np.argsort(-probs[mine], axis=1, kind="stable")
    second = ranked[:, 1]
    np.add.at(sums, second, probs[mine][np.arange(mine.sum()), second])
    shares = sums / sums.sum()
    order = sorted(range(num_classes), key=lambda c: (-sums[c], c))
    chosen = [c for c in order if shares[c] >= threshold and sums[c] > 0]
    return chosen or order[:1], sums


def global_transformation_set(local_sets: Sequence[Sequence[int]], local_sums: Sequence[np.ndarray]) -> list[int]:
    """The server's transformation set from the clients' proposals.

    Size: the mode of the local set sizes (a tie between sizes goes to the smaller one). Members: the
    classes proposed by the most clients; ties broken by the probability mass summed over clients, then
    by the smaller class id.
    """
    sets = [list(s) for s in local_sets if len(s)]
    if not sets:
        raise ValueError("no client proposed transformation classes (too few forgotten samples everywhere?)")
    size_counts = Counter(len(s) for s in sets)
    top = max(size_counts.values())
    size = min(n for n, c in size_counts.items() if c == top)
    votes = Counter(c for s in sets for c in s)
    mass = np.sum(local_sums, axis=0)
    ranked = sorted(votes, key=lambda c: (-votes[c], -mass[c], c))
    return [int(c) for c in ranked[:size]]


def vote_or_nearest(local_sets: Sequence[Sequence[int]], local_sums: Sequence[np.ndarray], prototypes: np.ndarray,
                    present: np.ndarray, forget_class: int) -> tuple[list[int], bool]:
    """The clients' vote (:func:`global_transformation_set`) and whether it fell back: when no client proposed
    a class (no client's model predicts enough of its forgotten samples as their class, as on pathological
    splits), the one retained class whose prototype is nearest the forgotten class's (the ablation's rule)."""
    if any(len(s) for s in local_sets):
        return global_transformation_set(local_sets, local_sums), False
    return nearest_centroid_set(prototypes, present, forget_class, 1), True


def nearest_centroid_set(prototypes: np.ndarray, present: np.ndarray, forget_class: int, size: int) -> list[int]:
    """Ablation: the ``size`` retained classes whose prototype is most cosine-similar to the forgotten class's."""
    unit = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit[forget_class]
    candidates = [c for c in range(len(prototypes)) if c != forget_class and present[c]]
    return sorted(candidates, key=lambda c: (-sims[c], c))[:size]


def relabel(probs: np.ndarray, labels: np.ndarray, forget_class: int, transformation_classes: Sequence[int]) -> np.ndarray:
    """Labels with each forgotten-class sample moved to its most probable transformation class."""
    labels = np.array(labels, copy=True)
    forgotten = labels == forget_class
    classes = np.asarray(transformation_classes)
    if forgotten.any():
        labels[forgotten] = classes[np.asarray(probs)[forgotten][:, classes].argmax(axis=1)]
    return labels


def supervised_contrastive_loss(features: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch class-aware contrastive loss (SupCon, Khosla et al. 2020) on L2-normalised features.

    For each anchor i with at least one positive (another sample of its label):
    -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t) ); the mean over
    such anchors, and 0 when there is none.
    """
    z = F.normalize(features, dim=1)
    n = len(labels)
    logits = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    counts = positives.sum(dim=1)
    anchors = counts > 0
    if not anchors.any():
        return features.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~positives, 0.0)).sum(dim=1)[anchors] / counts[anchors]
    return per_anchor.mean()


def prototype_contrastive_loss(
    features: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor, present: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Pull each representation toward its label's global prototype, away from the other prototypes.

    -log( exp(cos(z, p_y) / t) / sum_{k present} exp(cos(z, p_k) / t) ), averaged over the samples whose
    label has a prototype (``present``); 0 when none has.
    """
    usable = present[labels]
    if not usable.any():
        return features.sum() * 0.0
    z = F.normalize(features[usable], dim=1)
    p = F.normalize(prototypes, dim=1)
    logits = (z @ p.T / temperature).masked_fill(~present[None, :], float("-inf"))
    return F.cross_entropy(logits, labels[usable])


def prototype_sums(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class sums of representations (classes x dim) and sample counts: what a client uploads."""
    sums = np.zeros((num_classes, features.shape[1]), np.float64)
    np.add.at(sums, labels, features)
    return sums, np.bincount(labels, minlength=num_classes).astype(np.float64)


def aggregate_prototypes(sums: Sequence[np.ndarray], counts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Count-weighted global prototypes: sum of clients' sums / sum of their counts (0 where no sample)."""
    total_sums, total_counts = np.sum(sums, axis=0), np.sum(counts, axis=0)
    prototypes = np.divide(total_sums, total_counts[:, None], out=np.zeros_like(total_sums),
                           where=total_counts[:, None] > 0)
    return prototypes, total_counts


@dataclass(frozen=True)
class Selection:
    """One client's answer to the selection round."""

    proposed: np.ndarray  # 1 for each class the client proposes, else 0
    second_sums: np.ndarray  # second-highest probability mass per class over its forgotten samples
    sums: np.ndarray  # per-class sums of its representations (prototype numerators)
    counts: np.ndarray  # per-class sample counts


def client_selection(
    model: Classifier, x: np.ndarray, y: np.ndarray, forget_class: int, num_classes: int, min_samples: int,
    threshold: float, excluded: Sequence[int] = (), device: str = "cpu",
) -> Selection:
    """Score a client's data with the model: its proposed transformation classes (only with at least
    ``min_samples`` forgotten samples) and its prototype sums. ``excluded`` classes (deleted by earlier
    requests) are never proposed."""
    probs, features = predict(model, x, device=device)
    proposed, second_sums = np.zeros(num_classes), np.zeros(num_classes)
    if np.sum(y == forget_class) >= min_samples:
        candidates = probs.copy()
        candidates[:, list(excluded)] = 0.0
        classes, second_sums = local_transformation_set(candidates, y, forget_class, threshold)
        proposed[classes] = 1
    sums, counts = prototype_sums(features, y, num_classes)
    return Selection(proposed, second_sums, sums, counts)


@dataclass(frozen=True)
class AlignmentSettings:
    """The weights and temperature of FUCRT's two contrastive terms."""

    lambda_local: float
    lambda_global: float
    temperature: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "AlignmentSettings":
        return cls(config["fucrt-lambda-local"], config["fucrt-lambda-global"], config["fucrt-temperature"])


def client_transformation(
    model: Classifier, x: np.ndarray, y: np.ndarray, forget_class: int, classes: Sequence[int],
    prototypes: np.ndarray, present: np.ndarray, settings: TrainSettings, alignment: AlignmentSettings, seed: int,
) -> tuple[int, float, np.ndarray, np.ndarray]:
    """One client's transformation round, in place on ``model``: forgotten samples relabelled to their most
    probable transformation class under the received model, then cross-entropy plus contrastive alignment
    (in-batch and to the received global ``prototypes`` of the ``present`` classes).

    Returns (samples trained on, mean training loss, prototype sums, counts) after training.
    """
    # Only the forgotten samples are relabelled, so only they are scored (a forward pass over the rest would
    # cost a fifth of the round and change nothing).
    forgotten = np.flatnonzero(np.asarray(y) == forget_class)
    labels = np.array(y, copy=True)
    if len(forgotten):
        probs, _ = predict(model, x[forgotten], device=settings.device)
        labels[forgotten] = relabel(probs, labels[forgotten], forget_class, list(classes))
    protos = torch.from_numpy(np.asarray(prototypes)).to(settings.device)
    usable = torch.from_numpy(np.asarray(present) > 0).to(settings.device)

    def extra(features: torch.Tensor, batch_labels: torch.Tensor, _indices: torch.Tensor) -> torch.Tensor:
        loss = features.sum() * 0.0
        if alignment.lambda_local > 0:
            loss = loss + alignment.lambda_local * supervised_contrastive_loss(
                features, batch_labels, alignment.temperature)
        if alignment.lambda_global > 0:
            loss = loss + alignment.lambda_global * prototype_contrastive_loss(
                features, batch_labels, protos, usable, alignment.temperature)
        return loss

    loss = train(model, x, labels, settings, seed, extra_loss=extra)
    _, features = predict(model, x, device=settings.device)
    sums, counts = prototype_sums(features, labels, len(prototypes))
    return len(labels), loss, sums, counts
