"""WF-Net's pure functions: the filtered weights for a given alpha, the loss, training the filters alone."""

import numpy as np
import pytest
import torch
from torch import nn

from fedunlearn.algorithms.wfnet import (
    FilterSettings,
    apply_filter,
    filter_loss,
    filter_shapes,
    initial_filters,
    train_filters,
)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(torch.relu(self.fc(x.reshape(len(x), -1))))


def test_filter_rows_scale_each_output_channel():
    model = Tiny()
    assert filter_shapes(model) == {"fc.weight": 3, "fc.bias": 3, "head.weight": 2, "head.bias": 2}
    assert filter_shapes(model, head=False) == {"fc.weight": 3, "fc.bias": 3}  # the head-unfiltered variant
    assert set(apply_filter(model.state_dict(), initial_filters(model, 2, head=False), 1)) == set(model.state_dict())
    filters = initial_filters(model, num_classes=2)
    assert filters["fc.weight"].shape == (2, 3) and filters["fc.weight"].min() == 1.0
    filters["fc.weight"][1] = [0.0, 0.5, 1.0]  # class 1's row: channel 0 off, channel 1 halved
    filters["head.bias"][1] = [1.0, 0.0]
    state = {k: torch.ones_like(v) * 2 for k, v in model.state_dict().items()}
    unlearned = apply_filter(state, filters, forget_class=1)
    assert unlearned["fc.weight"].tolist() == [[0, 0], [1, 1], [2, 2]]
    assert unlearned["head.bias"].tolist() == [2, 0] and unlearned["fc.bias"].tolist() == [2, 2, 2]
    assert apply_filter(state, filters, forget_class=0)["fc.weight"].tolist() == [[2, 2]] * 3  # row 0 untouched


def test_the_loss_adds_retained_ce_the_inverse_of_forgotten_ce_and_the_sparsity_term():
    torch.manual_seed(0)
    model = Tiny()
    params = {n: p.detach() for n, p in model.named_parameters()}
    filters = {k: torch.from_numpy(v) for k, v in initial_filters(model, 2).items()}
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 1, 0])
    logits = model(x)
    settings = FilterSettings(retain_weight=1.0, forget_weight=2.0, sparsity_weight=0.5)
    expected = (nn.functional.cross_entropy(logits[y != 1], y[y != 1])
                + 2.0 / (nn.functional.cross_entropy(logits[y == 1], y[y == 1]) + 0.1))  # alpha = 1: no sparsity
    assert float(filter_loss(model, params, filters, x, y, 1, settings)) == pytest.approx(float(expected), rel=1e-5)
    half = {k: v * 0.5 for k, v in filters.items()}
    with_half = filter_loss(model, params, half, x, y, 1, FilterSettings(retain_weight=0, forget_weight=0,
                                                                         sparsity_weight=0.5))
    assert float(with_half) == pytest.approx(0.25)  # 0.5 * mean(1 - 0.5)


def test_training_moves_the_filters_only_and_keeps_them_in_the_unit_interval():
    torch.manual_seed(1)
    model = Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = np.random.default_rng(0).normal(size=(64, 1, 1, 2)).astype(np.float32)
    y = (x[:, 0, 0, 0] > 0).astype(np.int64)
    trained, loss = train_filters(model, initial_filters(model, 2), x, y,
                                  FilterSettings(epochs=3, batch_size=16, learning_rate=0.5), seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    values = np.concatenate([v.ravel() for v in trained.values()])
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.min() < 1.0 and loss > 0
