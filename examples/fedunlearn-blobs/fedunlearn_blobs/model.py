"""``model = "mlp-32"``: the smallest network fedunlearn's methods can work with."""

from __future__ import annotations

import torch
from torch import nn

from fedunlearn.learning.models import Classifier


class MLP32(Classifier):
    """One hidden layer of 32 units (the representation) and the head, on flattened inputs."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(input_shape).prod()), 32), nn.ReLU())
        self.feature_dim = 32
        self.head = nn.Linear(32, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
