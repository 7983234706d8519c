"""Plain PyTorch loops: local training, prediction and representations. No Flower here.

Clients call :func:`train` on their own samples; the server's evaluator calls :func:`predict`. Both compute on
the device they are given (``TrainSettings.device``, ``predict(..., device=)``): the model and each batch go there,
and the model comes back to the CPU after, where the rest of the project (state dicts, arrays, the algorithms'
own steps) keeps it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from fedunlearn.learning.models import Classifier
from fedunlearn.runtime.device import for_client


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any tuple of names and numbers (the same in every process)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    device: str = "cpu"  # where the loop computes (a torch device name)
    amp: bool = False  # bfloat16 autocast for the forward pass and the loss

    @classmethod
    def from_config(cls, config) -> "TrainSettings":
        """The local training of a configuration, on the device a client of this process uses (``device``)."""
        return cls(config["local-epochs"], config["batch-size"], config["learning-rate"], config["momentum"],
                   str(for_client(config.get("device", "cpu"))), bool(config.get("amp", False)))


ExtraLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
IGNORE = -100  # a label the cross-entropy skips: the sample is trained by the extra loss alone


def memory_layout(model: nn.Module, x: np.ndarray) -> torch.memory_format:
    """The memory format to run ``model`` on images ``x`` in: channels-last for convolutional models (oneDNN's
    CPU convolutions run 1.3x faster in training and 2.5x in inference on the 2-conv CNN), else the default."""
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return torch.channels_last if has_conv and x.ndim == 4 else torch.contiguous_format


class _Placed:
    """Runs a model on ``device`` in ``layout`` and gives it back on the CPU in the default layout (its state dict
    travels as arrays)."""

    def __init__(self, model: nn.Module, layout: torch.memory_format, device: str | torch.device = "cpu") -> None:
        self.model, self.layout, self.device = model, layout, torch.device(device)

    def __enter__(self) -> torch.memory_format:
        self.model.to(device=self.device, memory_format=self.layout)
        return self.layout

    def __exit__(self, *exc) -> None:
        self.model.to(device="cpu", memory_format=torch.contiguous_format)


def train(
    model: Classifier, x: np.ndarray, y: np.ndarray, settings: TrainSettings, seed: int,
    extra_loss: ExtraLoss | None = None, mask: Mapping[str, np.ndarray] | None = None,
) -> float:
    """SGD with cross-entropy on (x, y) for ``settings.epochs``; returns the mean training loss.

    ``extra_loss(features, labels, indices)``, when given, is added to each batch's cross-entropy: it
    sees the batch's representations, labels and sample indices (FUCRT's contrastive terms, head tilt's soft
    targets). Samples labelled :data:`IGNORE` are left out of the cross-entropy. ``mask`` (0/1 per weight,
    by parameter name) restricts the update to the weights marked 1: gradients are multiplied by it, and
    after every step the others, and their momentum, are put back (SalUn). The batch order depends only on
    ``seed``. With no samples the model is left unchanged and the loss is 0.
    """
    if len(y) == 0:
        return 0.0
    device = torch.device(settings.device)
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = _tensor(x), _tensor(y)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    total, count = 0.0, 0
    with _Placed(model, memory_layout(model, x), device) as layout:
        masks = {n: torch.from_numpy(np.asarray(m, dtype=np.float32)).to(device) for n, m in (mask or {}).items()}
        start_values = {n: p.detach().clone() for n, p in model.named_parameters() if n in masks}
        optimiser = torch.optim.SGD(model.parameters(), lr=settings.learning_rate, momentum=settings.momentum)
        for _ in range(settings.epochs):
            order = torch.randperm(len(targets), generator=generator)
            for start in range(0, len(order), settings.batch_size):
                batch = order[start:start + settings.batch_size]
                optimiser.zero_grad()
                labels = targets[batch].to(device)
                labelled = labels != IGNORE
                if extra_loss is None and not labelled.any():
                    continue  # nothing in this batch to learn from
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.amp):
                    features = model.features(inputs[batch].to(device).contiguous(memory_format=layout))
                    loss = loss_fn(model.head(features[labelled]), labels[labelled]) if labelled.any() else 0.0
                    if extra_loss is not None:  # batch indices stay on the CPU, where the loss's own arrays are
                        loss = loss + extra_loss(features, labels, batch)
                loss.backward()
                _mask_gradients(model, masks)
                optimiser.step()
                _restore_masked(model, masks, start_values, optimiser)
                total += loss.item() * len(batch)
                count += len(batch)
    return total / count if count else 0.0


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor of ``array``, sharing its memory when it is writable; a read-only one (a data set mapped from the
    array cache) is copied, since torch tensors cannot be read-only."""
    return torch.from_numpy(np.require(array, requirements="W"))


def _mask_gradients(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    if not masks:
        return
    for name, param in model.named_parameters():
        if name in masks and param.grad is not None:
            param.grad.mul_(masks[name])


@torch.no_grad()
def _restore_masked(model: nn.Module, masks: Mapping[str, torch.Tensor], start_values: Mapping[str, torch.Tensor],
                    optimiser: torch.optim.Optimizer) -> None:
    """Masked-out weights back to their values before training, and their momentum to 0 (SalUn's RL)."""
    if not masks:
        return
    for name, param in model.named_parameters():
        if name not in masks:
            continue
        keep = masks[name]
        param.mul_(keep).add_(start_values[name] * (1 - keep))
        buffer = optimiser.state.get(param, {}).get("momentum_buffer")
        if buffer is not None:
            buffer.mul_(keep)


@torch.no_grad()  # not inference_mode: the layout switch would leave inference tensors in the model
def predict(model: Classifier, x: np.ndarray, batch_size: int = 512,
            device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N, classes) and representations (N, feature_dim) of ``x``, computed on ``device``."""
    model.eval()
    probs, feats = [], []
    with _Placed(model, memory_layout(model, x), device) as layout:
        for start in range(0, len(x), batch_size):
            batch = _tensor(x[start:start + batch_size]).to(device).contiguous(memory_format=layout)
            features = model.features(batch)
            probs.append(torch.softmax(model.head(features), dim=1).cpu().numpy())
            feats.append(features.cpu().numpy())
    if not probs:
        return np.zeros((0, model.head.out_features), np.float32), np.zeros((0, model.feature_dim), np.float32)
    return np.concatenate(probs), np.concatenate(feats)
