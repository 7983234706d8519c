import math

import numpy as np
import pytest
import torch

from fedunlearn.algorithms.head_tilt import class_similarity, tilted_target
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import IGNORE, TrainSettings, train


def test_tilted_target_hand_computed():
    probs = np.array([[0.5, 0.3, 0.2]])
    similarity = np.array([1.0, 0.0, math.log(2)])  # beta = 1: class 2's mass doubles
    q = tilted_target(probs, forget_class=0, similarity=similarity, beta=1.0)
    assert q[0] == pytest.approx([0.0, 0.3 / 0.7, 0.4 / 0.7])
    assert tilted_target(probs, 0, similarity, beta=0.0)[0] == pytest.approx([0.0, 0.6, 0.4])  # no tilt: renormalise


def test_class_similarity_is_cosine_of_head_rows():
    head = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    assert class_similarity(head, 0) == pytest.approx([1.0, 1.0, 0.0, -1.0])


def test_ignored_labels_are_trained_by_the_extra_loss_alone():
    x = np.random.default_rng(0).normal(size=(8, 1, 2, 2)).astype(np.float32)
    y = np.array([IGNORE] * 8)
    model = build_model("mlp", (1, 2, 2), 3, seed=0)
    before = [p.clone() for p in model.parameters()]
    settings = TrainSettings(epochs=1, batch_size=4, learning_rate=0.1, momentum=0.0)
    assert train(model, x, y, settings, seed=0) == 0.0  # nothing to learn from: no NaN, no change
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    seen = []
    train(model, x, y, settings, seed=0,
          extra_loss=lambda f, labels, idx: seen.extend(idx.tolist()) or model.head(f)[:, 0].mean())
    assert sorted(seen) == list(range(8))  # every sample reaches the extra loss with its index
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
