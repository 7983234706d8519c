"""GENIU (Zhang et al., arXiv 2406.07885): class unlearning without the data, through generated class proxies,
as pure functions. No Flower here.

A variational autoencoder (VAE) is trained *concurrently* with the classifier: in every training round the
encoder reads class k's noise prompt (a fixed image of Gaussian noise, one per class), samples a latent
through the reparameterisation z = mu + sigma * eps, and the decoder turns it into a proxy of class k; the
loss is the reconstruction error toward the class's sample on which the current classifier is least sure
(the highest entropy of its output, as the paper chooses it) plus the KL divergence of q(z | prompt) from
N(0, I). Unlearning needs no data: one mini-batch of every class's proxies, trained with cross-entropy on
the retained classes' proxies and 1 / cross-entropy on the forgotten class's ("in-batch tuning").

No code is published and the paper's body could not be read here: the architecture, the prompt's form, the
loss weights and the tuning schedule are our choices (docs/methods/geniu.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

INVERSE_EPS = 0.1  # 1 / (CE + eps), as in WF-Net: bounded while the forgotten proxy is still recognised


class ProxyVAE(nn.Module):
    """An MLP VAE from a class's noise prompt to a proxy image in [0, 1]; the prompts are a fixed buffer
    (they travel with the weights, so the server can generate proxies)."""

    def __init__(self, num_classes: int, shape: tuple[int, ...], latent: int = 16, hidden: int = 256,
                 prompt_seed: int = 0) -> None:
        super().__init__()
        self.shape = tuple(shape)
        size = int(np.prod(shape))
        prompts = torch.randn(num_classes, size, generator=torch.Generator().manual_seed(prompt_seed))
        self.register_buffer("prompts", prompts)
        self.encoder = nn.Sequential(nn.Linear(size, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, size), nn.Sigmoid())

    def encode(self, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(self.prompts[classes])
        return self.mu(hidden), self.log_var(hidden)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(len(z), *self.shape)

    def forward(self, classes: torch.Tensor, noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(proxies, mu, log_var); ``noise`` is eps of the reparameterisation (None: the mean, z = mu)."""
        mu, log_var = self.encode(classes)
        z = mu if noise is None else mu + torch.exp(0.5 * log_var) * noise
        return self.decode(z), mu, log_var


def build_generator(num_classes: int, shape: tuple[int, ...], seed: int) -> ProxyVAE:
    """The initial generator: its weights and its prompts from ``seed`` (every party builds the same one)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ProxyVAE(num_classes, shape, prompt_seed=seed)


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


def kl_to_standard_normal(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_var)) || N(0, I)) per row: 0.5 sum(exp(log_var) + mu^2 - 1 - log_var)."""
    return 0.5 * (log_var.exp() + mu ** 2 - 1.0 - log_var).sum(dim=1)


def vae_loss(generator: ProxyVAE, classes: torch.Tensor, targets: torch.Tensor, noise: torch.Tensor | None,
             kl_weight: float) -> torch.Tensor:
    """Mean over the classes of the squared reconstruction error toward each class's target image plus
    ``kl_weight`` times the KL divergence of its posterior from N(0, I)."""
    images, mu, log_var = generator(classes, noise)
    reconstruction = ((images - targets) ** 2).flatten(1).sum(1)
    return (reconstruction + kl_weight * kl_to_standard_normal(mu, log_var)).mean()


@dataclass(frozen=True)
class GeneratorSettings:
    steps: int = 50
    learning_rate: float = 0.001
    kl_weight: float = 1.0


def train_generator(generator: ProxyVAE, images: Mapping[int, np.ndarray], settings: GeneratorSettings,
                    seed: int) -> float:
    """Adam on the VAE so that each class's proxy reconstructs its target image, one fresh eps per step from
    ``seed`` (the global random state is not touched); returns the last loss. No target: nothing moves."""
    if not images:
        return 0.0
    classes = torch.tensor(sorted(images))
    targets = torch.from_numpy(np.stack([np.asarray(images[int(c)], dtype=np.float32) for c in classes]))
    optimiser = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate)
    rng = torch.Generator().manual_seed(seed)
    latent = generator.mu.out_features
    loss = torch.zeros(())
    for _ in range(settings.steps):
        optimiser.zero_grad()
        loss = vae_loss(generator, classes, targets, torch.randn(len(classes), latent, generator=rng),
                        settings.kl_weight)
        loss.backward()
        optimiser.step()
    return float(loss)


@torch.no_grad()
def proxies(generator: ProxyVAE, num_classes: int, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` proxies of every class (latents sampled from each class's posterior) and their labels."""
    classes = torch.arange(num_classes).repeat_interleave(per_class)
    noise = torch.randn(len(classes), generator.mu.out_features, generator=torch.Generator().manual_seed(seed))
    images, _, _ = generator(classes, noise)
    return images.numpy(), classes.numpy()


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
        losses.append(loss.item())
    return losses


def average_generators(states: Sequence[Mapping[str, np.ndarray]], examples: Sequence[int]) -> dict[str, np.ndarray]:
    """FedAvg of the clients' generators, by sample count (the prompts are the same everywhere and stay)."""
    total = float(sum(examples))
    return {name: np.asarray(sum(np.asarray(s[name], np.float64) * (n / total) for s, n in zip(states, examples)),
                             dtype=np.float32) for name in states[0]}
