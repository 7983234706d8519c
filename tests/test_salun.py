"""SalUn's pure functions on hand-made cases: the mask, the gradient sums, masked training, random labels."""

import numpy as np
import pytest
import torch
from torch import nn

from fedunlearn.algorithms.salun import random_labels, saliency_gradient, saliency_mask
from fedunlearn.learning.models import Classifier
from fedunlearn.learning.training import TrainSettings, train


def test_the_mask_marks_the_largest_gradients_over_all_parameters_at_once():
    gradient = {"a": np.array([[0.1, -5.0], [3.0, 0.0]]), "b": np.array([2.0, -0.5])}
    mask = saliency_mask(gradient, 0.5)  # 6 weights: the 3 largest |g| are -5, 3 and 2
    assert mask["a"].tolist() == [[0, 1], [1, 0]] and mask["b"].tolist() == [1, 0]
    assert mask["a"].dtype == np.float32 and mask["a"].shape == (2, 2)
    assert saliency_mask(gradient, 1.0)["b"].tolist() == [1, 1]
    # Ties keep parameter order: the first of two equal gradients is salient.
    assert saliency_mask({"a": np.array([1.0, 1.0])}, 0.5)["a"].tolist() == [1, 0]


class Linear(Classifier):
    def __init__(self):
        super().__init__()
        self.feature_dim = 3
        self.head = nn.Linear(3, 2)

    def features(self, x):
        return x.reshape(len(x), -1)


def test_clients_gradient_sums_add_up_to_salun_sum_over_full_batches():
    torch.manual_seed(0)
    model = Linear()
    x = np.random.default_rng(0).normal(size=(8, 1, 1, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    ours = saliency_gradient(model, x, y, batch_size=4)
    # SalUn: the sum over its (full) batches of the gradient of -mean CE.
    model.zero_grad()
    for batch in (slice(0, 4), slice(4, 8)):
        (-nn.functional.cross_entropy(model(torch.from_numpy(x[batch])), torch.from_numpy(y[batch]))).backward()
    for name, param in model.named_parameters():
        assert ours[name] == pytest.approx(param.grad.numpy(), abs=1e-6)
    # Two clients holding 3 and 5 of the samples: their sums add up to the whole.
    first, second = saliency_gradient(model, x[:3], y[:3], 4), saliency_gradient(model, x[3:], y[3:], 4)
    for name in ours:
        assert first[name] + second[name] == pytest.approx(ours[name], abs=1e-6)
    assert all(p.grad is None for p in model.parameters())  # the model is left as it was


def test_masked_training_changes_salient_weights_only():
    torch.manual_seed(1)
    model = Linear()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    mask = {"head.weight": np.array([[1, 0, 0], [0, 0, 1]], dtype=np.float32), "head.bias": np.array([0, 0], np.float32)}
    x = np.random.default_rng(1).normal(size=(40, 1, 1, 3)).astype(np.float32)
    train(model, x, np.arange(40) % 2, TrainSettings(3, 8, 0.1, 0.9), seed=0, mask=mask)
    weight = model.head.weight.detach()
    assert torch.equal(model.head.bias.detach(), before["head.bias"])  # masked out: exactly as before
    assert torch.equal(weight[0, 1:2], before["head.weight"][0, 1:2]) and torch.equal(weight[1, :2], before["head.weight"][1, :2])
    assert not torch.equal(weight[0, 0], before["head.weight"][0, 0]) and not torch.equal(weight[1, 2], before["head.weight"][1, 2])


def test_random_labels_cover_every_class_and_are_seeded():
    labels = random_labels(5000, 10, seed=4)
    assert set(labels.tolist()) == set(range(10)) and np.array_equal(labels, random_labels(5000, 10, seed=4))
    assert abs(np.bincount(labels)[3] / 5000 - 0.1) < 0.02  # the forgotten class too, as SalUn draws them
