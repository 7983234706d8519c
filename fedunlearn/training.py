"""Plain PyTorch loops: local training, prediction and representations. No Flower here.

Clients call :func:`train` on their own samples; the server's evaluator calls :func:`predict`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .models import Classifier


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any tuple of names and numbers (the same in every process)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float

    @classmethod
    def from_config(cls, config) -> "TrainSettings":
        return cls(config["local-epochs"], config["batch-size"], config["learning-rate"], config["momentum"])


ExtraLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
IGNORE = -100  # a label the cross-entropy skips: the sample is trained by the extra loss alone


def train(
    model: Classifier, x: np.ndarray, y: np.ndarray, settings: TrainSettings, seed: int,
    extra_loss: ExtraLoss | None = None,
) -> float:
    """SGD with cross-entropy on (x, y) for ``settings.epochs``; returns the mean training loss.

    ``extra_loss(features, labels, indices)``, when given, is added to each batch's cross-entropy: it
    sees the batch's representations, labels and sample indices (FUCRT's contrastive terms, TRW's soft
    targets). Samples labelled :data:`IGNORE` are left out of the cross-entropy. The batch order depends
    only on ``seed``. With no samples the model is left unchanged and the loss is 0.
    """
    if len(y) == 0:
        return 0.0
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    optimiser = torch.optim.SGD(model.parameters(), lr=settings.learning_rate, momentum=settings.momentum)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    total, count = 0.0, 0
    for _ in range(settings.epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            optimiser.zero_grad()
            labelled = targets[batch] != IGNORE
            if extra_loss is None and not labelled.any():
                continue  # nothing in this batch to learn from
            features = model.features(inputs[batch])
            loss = loss_fn(model.head(features[labelled]), targets[batch][labelled]) if labelled.any() else 0.0
            if extra_loss is not None:
                loss = loss + extra_loss(features, targets[batch], batch)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
            count += len(batch)
    return total / count if count else 0.0


@torch.no_grad()
def predict(model: Classifier, x: np.ndarray, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N, classes) and representations (N, feature_dim) of ``x``."""
    model.eval()
    probs, feats = [], []
    for start in range(0, len(x), batch_size):
        features = model.features(torch.from_numpy(x[start:start + batch_size]))
        probs.append(torch.softmax(model.head(features), dim=1).numpy())
        feats.append(features.numpy())
    if not probs:
        return np.zeros((0, model.head.out_features), np.float32), np.zeros((0, model.feature_dim), np.float32)
    return np.concatenate(probs), np.concatenate(feats)
