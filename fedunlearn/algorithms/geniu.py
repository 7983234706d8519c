"""GENIU (Zhang et al., arXiv 2406.07885): class unlearning without the data, through generated class proxies,
as pure functions. No Flower here.

A generator and one learnable noise prompt per class are trained so that the generator turns class k's
prompt into a proxy of class k: a reconstruction of one chosen real image of the class (the one with the
highest entropy of the classifier's output, as the paper chooses it), with a KL-style pull of the prompts
toward N(0, I). Unlearning needs no data: one mini-batch of every class's proxy, trained with cross-entropy
on the retained classes' proxies and 1 / cross-entropy on the forgotten class's ("in-batch tuning").

No code is published; the generator's architecture, the prompt's size and the loss weights are our choices
(docs/methods/geniu.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import nn

INVERSE_EPS = 0.1  # 1 / (CE + eps), as in WF-Net: bounded while the forgotten proxy is still recognised


class ProxyGenerator(nn.Module):
    """One learnable prompt per class and a decoder from prompts to images in [0, 1]."""

    def __init__(self, num_classes: int, shape: tuple[int, ...], prompt_dim: int = 32, hidden: int = 256) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.prompts = nn.Parameter(torch.randn(num_classes, prompt_dim))
        self.decoder = nn.Sequential(nn.Linear(prompt_dim, hidden), nn.ReLU(), nn.Linear(hidden, int(np.prod(shape))),
                                     nn.Sigmoid())

    def forward(self, classes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.prompts[classes]).view(len(classes), *self.shape)


def build_generator(num_classes: int, shape: tuple[int, ...], seed: int) -> ProxyGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ProxyGenerator(num_classes, shape)


def entropy_targets(probs: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Per class held, the index of its sample whose predicted distribution has the highest entropy (the
    first such one on ties)."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    entropy = -(probs * np.log(probs)).sum(axis=1)
    out = {}
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        out[int(c)] = int(members[np.argmax(entropy[members])])
    return out


def generator_loss(generator: ProxyGenerator, classes: torch.Tensor, targets: torch.Tensor,
                   kl_weight: float) -> torch.Tensor:
    """Mean squared reconstruction error of each class's proxy toward its target image, plus ``kl_weight``
    times the prompts' KL divergence to N(0, I) taken as unit-variance means: 0.5 mean ||z_k||^2."""
    reconstruction = ((generator(classes) - targets) ** 2).flatten(1).sum(1).mean()
    return reconstruction + kl_weight * 0.5 * (generator.prompts[classes] ** 2).sum(1).mean()


@dataclass(frozen=True)
class GeneratorSettings:
    steps: int = 200
    learning_rate: float = 0.01
    kl_weight: float = 0.01


def train_generator(generator: ProxyGenerator, images: Mapping[int, np.ndarray], settings: GeneratorSettings) -> float:
    """Adam on the generator (prompts and decoder) so that each class's proxy reconstructs its target image;
    returns the last loss. Classes without a target image are left out (their prompts do not move)."""
    if not images:
        return 0.0
    classes = torch.tensor(sorted(images))
    targets = torch.from_numpy(np.stack([np.asarray(images[int(c)], dtype=np.float32) for c in classes]))
    optimiser = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate)
    loss = torch.zeros(())
    for _ in range(settings.steps):
        optimiser.zero_grad()
        loss = generator_loss(generator, classes, targets, settings.kl_weight)
        loss.backward()
        optimiser.step()
    return float(loss)


@torch.no_grad()
def proxies(generator: ProxyGenerator, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Every class's proxy and its label."""
    classes = torch.arange(num_classes)
    return generator(classes).numpy(), classes.numpy()


def in_batch_tuning(model: nn.Module, images: np.ndarray, labels: np.ndarray, forget_class: int, steps: int,
                    learning_rate: float) -> list[float]:
    """GENIU's unlearning on ``model`` in place: ``steps`` SGD steps on the one batch of proxies, cross-entropy on
    the retained classes' plus 1 / (cross-entropy + eps) on the forgotten class's. Returns the losses."""
    x, y = torch.from_numpy(np.asarray(images, dtype=np.float32)), torch.from_numpy(np.asarray(labels))
    forget = y == forget_class
    optimiser = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
    model.train()
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        logits = model(x)
        loss = nn.functional.cross_entropy(logits[~forget], y[~forget])
        if forget.any():
            loss = loss + 1.0 / (nn.functional.cross_entropy(logits[forget], y[forget]) + INVERSE_EPS)
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    return losses


def average_generators(states: list[Mapping[str, np.ndarray]], class_counts: list[np.ndarray],
                       examples: list[int]) -> dict[str, np.ndarray]:
    """The server's generator: the decoder averaged by sample count, each class's prompt by that class's count
    (a client that holds no sample of class k leaves its prompt as it received it and has no say in it)."""
    total = float(sum(examples))
    out = {name: sum(s[name] * (n / total) for s, n in zip(states, examples)) for name in states[0] if name != "prompts"}
    counts = np.stack([np.asarray(c, dtype=np.float64) for c in class_counts])  # (clients, classes)
    prompts = np.stack([np.asarray(s["prompts"], dtype=np.float64) for s in states])  # (clients, classes, dim)
    held = counts.sum(axis=0)
    weights = np.divide(counts, held, out=np.full_like(counts, 1.0 / len(states)), where=held > 0)
    out["prompts"] = (weights[:, :, None] * prompts).sum(axis=0)
    return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
