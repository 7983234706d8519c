"""Models: an MLP, a small CNN (digits), LeNet-5 and a 2-conv 32/64 CNN (28x28 inputs such as
Fashion-MNIST) and ResNet-18 (CIFAR-size inputs).

Every model is a :class:`Classifier`: ``features(x)`` gives the representation (penultimate
features, ``feature_dim`` wide) and ``head`` maps it to class logits. FUCRT and the evaluator use the
representation; ``forward`` is ``head(features(x))``.

Models are registered by name in :data:`MODELS` (``model = "<name>"``): the built-ins below by decorator, a
model of one's own from an installed package through the entry point group ``fedunlearn.models``, naming a
:class:`Classifier` subclass whose constructor takes ``(input_shape, num_classes)``. A class attribute
``MIN_SIZE`` makes validation refuse smaller images before anything runs. ``fedunlearn models`` lists them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from fedunlearn.runtime.plugins import Registry


class Classifier(nn.Module, ABC):
    """A representation network followed by a linear classifier head."""

    feature_dim: int
    head: nn.Linear

    @abstractmethod
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The representation of a batch: (N, feature_dim)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


MODELS = Registry("model", "fedunlearn.models", wants="a subclass of fedunlearn.learning.models.Classifier",
                  accepts=lambda obj: isinstance(obj, type) and issubclass(obj, Classifier))


@MODELS.register("mlp")
class MLP(Classifier):
    """Two dense layers of 256 and 128 (the representation) and the head, on flattened inputs."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        in_dim = 1
        for d in input_shape:
            in_dim *= d
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(in_dim, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, hidden), nn.ReLU()
        )
        self.feature_dim = hidden
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@MODELS.register("cnn")
class SmallCNN(Classifier):
    """Two conv blocks and a dense layer; works for 8x8 digits and 28x28 MNIST alike."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        channels = input_shape[0]
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 4 * 4, hidden), nn.ReLU(),
        )
        self.feature_dim = hidden
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@MODELS.register("lenet5")
class LeNet5(Classifier):
    """LeNet-5 as Flower's niid_bench baseline uses it for (Fashion-)MNIST: conv 6 and 16 channels of 5x5, each
    followed by ReLU and 2x2 max-pooling, then fully connected 120 and 84 (the representation) and the head.
    44,426 parameters on 1x28x28 inputs; needs inputs of at least 16x16."""

    MIN_SIZE = 16

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        channels, height, width = input_shape
        out_height, out_width = (((size - 4) // 2 - 4) // 2 for size in (height, width))
        self.body = nn.Sequential(
            nn.Conv2d(channels, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * out_height * out_width, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        )
        self.feature_dim = 84
        self.head = nn.Linear(84, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@MODELS.register("cnn2")
class TwoConvCNN(Classifier):
    """Two 3x3 conv layers of 32 and 64 channels, each followed by ReLU and 2x2 max-pooling, a dense layer of
    128 (the representation) and the head: 421,642 parameters on 1x28x28 inputs; needs at least 4x4.
    Subclasses change the widths."""

    MIN_SIZE = 4
    WIDTHS = (32, 64)

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, hidden: int = 128) -> None:
        super().__init__()
        channels, height, width = input_shape
        first, second = self.WIDTHS
        self.body = nn.Sequential(
            nn.Conv2d(channels, first, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(first, second, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(second * (height // 4) * (width // 4), hidden), nn.ReLU(),
        )
        self.feature_dim = hidden
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@MODELS.register("cnn2-16")
class TwoConvCNN16(TwoConvCNN):
    """The 2-conv CNN at half width, 16 and 32 channels: 206,922 parameters on 1x28x28 inputs."""

    WIDTHS = (16, 32)


@MODELS.register("cnn2-8")
class TwoConvCNN8(TwoConvCNN):
    """The 2-conv CNN at a quarter width, 8 and 16 channels."""

    WIDTHS = (8, 16)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


@MODELS.register("resnet18")
class ResNet18(Classifier):
    """ResNet-18 in its CIFAR form (3x3 stem, no max-pool), as used by FUCRT's CIFAR experiments."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], 64, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
        )
        layers, in_planes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = 512
        self.head = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layers(self.stem(x)))




def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int | None = None) -> Classifier:
    """A fresh model; with ``seed`` its initial weights depend on nothing else."""
    model_class = MODELS.get(name)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return model_class(input_shape, num_classes)
    return model_class(input_shape, num_classes)
