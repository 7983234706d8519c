"""LRA-NPP (Chang et al., arXiv 2410.23693): zero-shot class unlearning by relevance analysis and neuron
perturbation, as pure functions. No Flower, no gradient step, no retained data.

For a few images of the forgotten class that were not training data, LRP-epsilon from the predicted class
gives each neuron at the input of the classifier head a relevance; with the relevance started at the
predicted logit (as the authors' code does) it is a_j W[c_hat, j] times a positive factor, so ranking by
a_j W[c_hat, j] ranks as they do. Each image's top-k neurons are counted; the most frequent ones are
perturbed: their weight to the forgotten class is zeroed, and so is the row that produces them in the
layer before the head (ChangWenhan/LRA-NPP-Unlearning, ``core/methods.py``, ``_perturb_mnist``). A model
whose representation comes from no linear layer (ResNet-18's pooled features) gets the rule the authors
use for ResNets instead: the chosen neurons' head weights are zeroed for every class.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping

import numpy as np
import torch
from torch import nn


def head_relevance(features: np.ndarray, head_weight: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(N, width) relevance of each representation neuron for each sample's predicted class: a_j W[c_hat, j]."""
    return np.asarray(features) * np.asarray(head_weight)[np.asarray(predicted)]


def counts_for_width(width: int, top_k_share: float, neurons_share: float) -> tuple[int, int]:
    """(k, N) for a representation ``width``: each share of the width, rounded, at least 1. The authors use
    k = 50, N = 80 on MNIST's 512-wide layer and k = 200, N = 400 on ResNet-50's 2048 features (shares of about
    0.1 and 0.16-0.2); the defaults keep the MNIST shares."""
    return max(1, round(width * top_k_share)), max(1, round(width * neurons_share))


def frequent_neurons(relevance: np.ndarray, top_k: int) -> list[int]:
    """Neurons ordered by how many samples have them among their ``top_k`` most relevant (ties: the order in
    which they first appear, sample by sample and rank by rank, as ``Counter.most_common`` keeps them)."""
    ranked = [np.argsort(-row, kind="stable")[:top_k].tolist() for row in np.asarray(relevance)]
    return [neuron for neuron, _ in Counter(n for row in ranked for n in row).most_common()]


def feature_layer(model: nn.Module) -> str | None:
    """The name of the linear layer that produces the representation (the last one before the head), or None."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear) and name != "head"]
    return names[-1] if names else None


def perturb(state: Mapping[str, torch.Tensor], neurons: list[int], forget_class: int,
            feature_weight: str | None) -> dict[str, torch.Tensor]:
    """A copy of ``state`` with the chosen neurons cut off from the forgotten class: ``head.weight[c, n] = 0``
    and the row ``feature_weight[n, :] = 0`` (the neuron's input weights; its bias is kept, as the authors'
    code keeps it). Without a feature layer: ``head.weight[:, n] = 0`` for every class."""
    out = {k: v.clone() for k, v in state.items()}
    index = torch.as_tensor(neurons, dtype=torch.long)
    if feature_weight is None:
        out["head.weight"][:, index] = 0.0
        return out
    out["head.weight"][forget_class, index] = 0.0
    out[feature_weight][index] = 0.0
    return out
