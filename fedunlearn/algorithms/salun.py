"""SalUn (Fan et al., ICLR 2024, arXiv 2310.12508) as pure functions: the weight-saliency mask and the
random labels of its RL unlearning. No Flower here.

SalUn's code (OPTML-Group/Unlearn-Saliency, ``Classification/generate_mask.py``) sums, over the forgotten
data's batches, the gradient of the negated cross-entropy at the original model, takes its absolute value
and marks the top ``ratio`` share of all weights, ranked globally, as salient (1). Unlearning
(``Classification/unlearn/RL.py``) trains forgotten samples toward uniformly random labels and retained
samples toward their own, multiplies every gradient by the mask, and puts masked-out weights (and their
momentum) back to the original after every step.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn


def saliency_gradient(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int,
                      chunk: int = 512) -> dict[str, np.ndarray]:
    """Sum over ``batch_size``-batches of the gradient of -mean CE on (x, y), per parameter, at ``model``.

    Computed as ``-grad(sum of per-sample CE) / batch_size``, which equals SalUn's sum over full batches and
    adds up exactly over any split of the samples: clients' sums add to the sum over all forgotten data. The
    model is scored in eval mode, as SalUn does; its weights are not changed.
    """
    model.eval()
    model.zero_grad(set_to_none=True)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    for start in range(0, len(y), chunk):
        inputs, targets = torch.from_numpy(x[start:start + chunk]), torch.from_numpy(y[start:start + chunk])
        (-loss_fn(model(inputs), targets) / batch_size).backward()
    out = {name: (p.grad.detach().numpy().copy() if p.grad is not None else np.zeros(tuple(p.shape), np.float32))
           for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return out


def saliency_mask(gradient: Mapping[str, np.ndarray], ratio: float) -> dict[str, np.ndarray]:
    """1 for the top ``ratio`` share of all weights by |gradient| (ranked over every parameter at once, ties
    broken by position in parameter order), 0 elsewhere; float32 arrays shaped like the parameters."""
    names = list(gradient)
    flat = np.concatenate([np.abs(np.asarray(gradient[n], dtype=np.float64)).ravel() for n in names])
    salient = np.zeros(len(flat), dtype=np.float32)
    salient[np.argsort(-flat, kind="stable")[:int(len(flat) * ratio)]] = 1.0
    out, start = {}, 0
    for name in names:
        size = int(np.prod(np.shape(gradient[name])))
        out[name] = salient[start:start + size].reshape(np.shape(gradient[name]))
        start += size
    return out


def random_labels(count: int, num_classes: int, seed: int) -> np.ndarray:
    """Uniformly random labels over every class, the forgotten one included (SalUn's ``randint(0, classes)``)."""
    return np.random.default_rng(seed).integers(0, num_classes, size=count).astype(np.int64)
