"""L2UL's pure functions on hand-made cases: importance weights, targets, the attack, the stop rule."""

import numpy as np
import pytest
import torch
from torch import nn

from fedunlearn.algorithms.l2ul import L2ulSettings, other_labels, targeted_l2_pgd, unlearn, weight_importance


class Linear(nn.Module):
    def __init__(self, weight, bias):
        super().__init__()
        self.fc = nn.Linear(len(weight[0]), len(weight))
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(weight, dtype=torch.float32))
            self.fc.bias.copy_(torch.tensor(bias, dtype=torch.float32))

    def forward(self, x):
        return self.fc(x.reshape(len(x), -1))


def test_importance_weights_of_a_linear_model_by_hand():
    # f(x) = W x + b with W = diag(1, 2), b = 0, one sample x = (3, 4): f = (3, 8), ||f|| = sqrt(73).
    # d||f|| / dW = (f / ||f||) x^T = [[9, 12], [24, 32]] / sqrt(73); min-max per tensor: [[0, 3/23], [15/23, 1]];
    # the penalty weight is 1 minus that. d||f|| / db = (3, 8) / sqrt(73): weights (1, 0).
    model = Linear([[1.0, 0.0], [0.0, 2.0]], [0.0, 0.0])
    weights = weight_importance(model, np.array([[3.0, 4.0]], dtype=np.float32))
    assert weights["fc.weight"] == pytest.approx(np.array([[1.0, 20 / 23], [8 / 23, 0.0]]), abs=1e-6)
    assert weights["fc.bias"] == pytest.approx(np.array([1.0, 0.0]), abs=1e-6)
    flat = Linear([[0.0, 0.0]], [1.0])  # one output: d||f||/db = 1 everywhere: no spread, weight 1
    assert weight_importance(flat, np.array([[1.0, 1.0]], dtype=np.float32))["fc.bias"].tolist() == [1.0]


def test_targets_are_never_the_samples_own_label():
    labels = np.repeat(np.arange(10), 500)
    targets = other_labels(labels, 10, np.random.default_rng(0))
    assert np.all(targets != labels)
    assert np.bincount(targets[labels == 5], minlength=10)[5] == 0 and len(set(targets[labels == 5])) == 9


def test_the_attack_stays_in_the_ball_and_the_image_range_and_reaches_its_target():
    torch.manual_seed(0)
    model = Linear([[4.0, 0.0], [0.0, 4.0]], [0.0, 0.0])  # class = the larger coordinate
    x = np.array([[0.9, 0.1], [0.8, 0.3]], dtype=np.float32)  # both class 0
    adversarial = targeted_l2_pgd(model, x, np.array([1, 1]), eps=1.0, step=0.1, steps=50, seed=0)
    assert np.all(np.linalg.norm(adversarial - x, axis=1) <= 1.0 + 1e-5)
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.all(adversarial.argmax(axis=1) == 1)  # pushed across to the target class
    near = targeted_l2_pgd(model, x, np.array([1, 1]), eps=0.05, step=0.1, steps=50, seed=0)
    assert np.all(np.linalg.norm(near - x, axis=1) <= 0.05 + 1e-5) and np.all(near.argmax(axis=1) == 0)


def test_unlearning_stops_once_the_forgotten_samples_are_misclassified():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    rng = np.random.default_rng(0)
    x = rng.random((6, 1, 2, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    settings = L2ulSettings(eps=1.0, pgd_steps=5, adv_per_sample=4, learning_rate=0.5, max_passes=200)
    done = unlearn(model, x, y, 3, settings, seed=0)
    assert done["forget_acc"] == 0.0 and done["steps"] > 0 and done["adversarial_examples"] == 24
    model.eval()
    assert np.all(model(torch.from_numpy(x)).argmax(1).numpy() != y)
