"""L2UL (Cha et al., AAAI 2024, arXiv 2301.11578): instance-wise unlearning with adversarial examples and
weight importance, as pure functions. No Flower here.

As the authors' code does it (csm9493/L2UL, ``main_unlearn_cifar10_mixed_label_resnet18.py`` with the
first version of ``utils.py``, the one that script calls):

1. For every forgotten sample, ``l2ul-adv-per-sample`` targeted L2-PGD adversarial examples of the original
   model (advertorch's ``L2PGDAttack``: eps 4.0, step 0.1, 100 steps, a random start drawn uniformly in the
   image space and scaled into the ball, images kept in [0, 1]), each toward a random label other than the
   sample's own, labelled with that target.
2. MAS-style importance of every weight for the forgotten samples: |d mean_i ||f(x_i)||_2 / d theta|
   (logits, not squared), min-max normalised per tensor; a weight's penalty is 1 - importance, so the
   weights that matter most for the forgotten samples move most freely.
3. SGD (momentum 0.9, weight decay 1e-4) on
   ``(-sum CE(f(x_f), y_f) + sum CE(f(x_adv), y_adv)) / n + lambda * sum (1 - importance) (theta - theta_0)^2 / 2``,
   every step holding all forgotten samples and the next batch of 256 adversarial ones, until the accuracy
   on the forgotten samples is at most ``l2ul-stop-acc`` (the paper: 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import nn

from fedunlearn.learning.training import memory_layout


@dataclass(frozen=True)
class L2ulSettings:
    eps: float = 4.0
    step: float = 0.1
    pgd_steps: int = 100
    adv_per_sample: int = 20
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    penalty: float = 1.0  # lambda
    stop_acc: float = 0.0
    max_passes: int = 1000  # passes over the adversarial examples at most
    adv_batch: int = 256
    forget_batch: int = 32

    @classmethod
    def from_config(cls, config: Mapping) -> "L2ulSettings":
        return cls(eps=config["l2ul-eps"], adv_per_sample=config["l2ul-adv-per-sample"],
                   pgd_steps=config["l2ul-pgd-steps"], learning_rate=config["l2ul-learning-rate"],
                   penalty=config["l2ul-lambda"], stop_acc=config["l2ul-stop-acc"])


def other_labels(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """For each label a uniformly random one among the other ``num_classes - 1`` classes."""
    return (np.asarray(labels) + rng.integers(1, num_classes, size=len(labels))) % num_classes


def _clamp_norm(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Scale each row of ``delta`` into the L2 ball of radius ``eps`` (rows inside it are left alone)."""
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = torch.clamp(eps / norms, max=1.0)
    return delta * factor.view(-1, *([1] * (delta.dim() - 1)))


def targeted_l2_pgd(model: nn.Module, x: np.ndarray, targets: np.ndarray, eps: float, step: float, steps: int,
                    seed: int) -> np.ndarray:
    """Targeted L2 PGD (advertorch's L2PGDAttack): from a random start, ``steps`` normalised-gradient steps that
    lower the cross-entropy toward ``targets``, each followed by clipping to [0, 1] and projection onto the
    eps-ball around ``x``. Returns the adversarial images."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    inputs, labels = torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(targets))
    delta = torch.rand(inputs.shape, generator=generator) - inputs  # uniform in [0, 1], relative to x
    delta = torch.clamp(inputs + _clamp_norm(delta, eps), 0.0, 1.0) - inputs
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    layout = memory_layout(model, inputs.numpy())
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = -loss_fn(model((inputs + delta).contiguous(memory_format=layout)), labels)  # targeted: descend CE
        grad, = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            grad = grad / (grad.flatten(1).norm(dim=1).view(-1, *([1] * (grad.dim() - 1))) + 1e-6)
            delta = torch.clamp(inputs + delta + step * grad, 0.0, 1.0) - inputs
            delta = _clamp_norm(delta, eps)
    return (inputs + delta).detach().numpy()


def weight_importance(model: nn.Module, x: np.ndarray, batch_size: int = 32) -> dict[str, np.ndarray]:
    """1 - min-max-normalised |d mean ||f(x)||_2 / d theta| per parameter tensor (batches of ``batch_size``,
    their gradients weighted by their sizes): the penalty weight of every parameter. A tensor whose
    importance is the same everywhere gets weight 1."""
    model.zero_grad(set_to_none=True)
    total: dict[str, torch.Tensor] = {}
    for start in range(0, len(x), batch_size):
        batch = torch.from_numpy(np.asarray(x[start:start + batch_size], dtype=np.float32))
        model.zero_grad(set_to_none=True)
        model(batch).norm(p=2, dim=1).mean().backward()
        for name, param in model.named_parameters():
            grad = param.grad.abs() * len(batch) if param.grad is not None else torch.zeros_like(param)
            total[name] = total.get(name, 0) + grad
    model.zero_grad(set_to_none=True)
    out = {}
    for name, value in total.items():
        value = (value / max(1, len(x))).numpy()
        span = value.max() - value.min()
        out[name] = (1.0 - (value - value.min()) / span if span > 0 else np.ones_like(value)).astype(np.float32)
    return out


def unlearning_loss(model: nn.Module, x_forget: torch.Tensor, y_forget: torch.Tensor, x_adv: torch.Tensor,
                    y_adv: torch.Tensor, penalty_weights: Mapping[str, torch.Tensor],
                    start_values: Mapping[str, torch.Tensor], penalty: float) -> torch.Tensor:
    """``(-sum CE(forget) + sum CE(adversarial)) / n + penalty * sum w (theta - theta_0)^2 / 2``."""
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    n = len(y_forget) + len(y_adv)
    loss = (-loss_fn(model(x_forget), y_forget) + loss_fn(model(x_adv), y_adv)) / n
    drift = sum((penalty_weights[name] * (param - start_values[name]) ** 2).sum()
                for name, param in model.named_parameters())
    return loss + penalty * drift / 2


@torch.no_grad()
def accuracy_on(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    return float((model(torch.from_numpy(np.asarray(x, dtype=np.float32))).argmax(1).numpy() == y).mean())


def unlearn(model: nn.Module, x_forget: np.ndarray, y_forget: np.ndarray, num_classes: int,
            settings: L2ulSettings, seed: int) -> dict:
    """L2UL on ``model`` in place: adversarial examples, importance, then penalised SGD until the forgotten
    samples' accuracy is at most ``settings.stop_acc`` (or ``max_passes`` passes). Returns what it did."""
    rng = np.random.default_rng(seed)
    repeats = np.repeat(np.arange(len(y_forget))[None, :], settings.adv_per_sample, axis=0).ravel()  # round by round
    targets = other_labels(y_forget[repeats], num_classes, rng)
    x_adv = targeted_l2_pgd(model, x_forget[repeats], targets, settings.eps, settings.step, settings.pgd_steps,
                            int(rng.integers(2**31)))
    weights = {k: torch.from_numpy(v) for k, v in weight_importance(model, x_forget).items()}
    start_values = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimiser = torch.optim.SGD(model.parameters(), lr=settings.learning_rate, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    xf, yf = torch.from_numpy(np.asarray(x_forget, dtype=np.float32)), torch.from_numpy(np.asarray(y_forget))
    xa, ya = torch.from_numpy(x_adv), torch.from_numpy(targets)
    steps, accuracy = 0, accuracy_on(model, x_forget, y_forget)
    forget_start = 0
    for _ in range(settings.max_passes):
        if accuracy <= settings.stop_acc:
            break
        for start in range(0, len(ya), settings.adv_batch):
            model.train()
            # The forgotten samples' batches of 32 in turn (the authors cycle their loader; 32 or fewer: all, always).
            chosen = slice(forget_start, forget_start + settings.forget_batch)
            forget_start = forget_start + settings.forget_batch if forget_start + settings.forget_batch < len(yf) else 0
            optimiser.zero_grad()
            unlearning_loss(model, xf[chosen], yf[chosen], xa[start:start + settings.adv_batch],
                            ya[start:start + settings.adv_batch], weights, start_values, settings.penalty).backward()
            optimiser.step()
            steps += 1
            accuracy = accuracy_on(model, x_forget, y_forget)
            if accuracy <= settings.stop_acc:
                break
    model.zero_grad(set_to_none=True)
    return {"steps": steps, "forget_acc": accuracy, "adversarial_examples": int(len(ya))}
