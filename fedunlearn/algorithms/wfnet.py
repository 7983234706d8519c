"""WF-Net (Poppi, Sarto, Cornia, Baraldi, Cucchiara; arXiv 2304.02049): multi-class unlearning by weight
filtering, as pure functions. No Flower here.

The trained model is frozen. Every layer with a weight (convolutions, linear layers, and the head unless
``wfnet-filter-head = false``) gets a filter
``alpha`` of shape (classes, output channels): row c, multiplied into the layer's weight and bias channel by
channel, gives the model with class c unlearned. The filters are trained once; afterwards any class is
unlearned by publishing ``theta * alpha[c]``, with no further training.

The paper leaves open (or we could not read) the filter's granularity, its initialisation and bounds, the
loss weights and the batch construction; our choices (docs/methods/wf-net.md): per output channel, starting
at 1, kept in [0, 1]; loss = lambda0 CE(retained, row c) + lambda1 / (CE(forgotten, row c) + eps) +
lambda2 mean(1 - alpha); each batch trains ``rows_per_batch`` randomly drawn rows c, its samples of class c
being the forgotten ones and the others the retained ones ("label expansion").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

INVERSE_EPS = 0.1  # 1 / (CE + eps): bounded where the forgotten class is still recognised with certainty


@dataclass(frozen=True)
class FilterSettings:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 0.05
    retain_weight: float = 1.0  # lambda0
    forget_weight: float = 1.0  # lambda1
    sparsity_weight: float = 0.1  # lambda2
    rows_per_batch: int = 2  # T


def filter_shapes(model: nn.Module, head: bool = True) -> dict[str, int]:
    """Parameter name -> the number of output channels its filter row has, for every convolution's and linear
    layer's weight and bias (the channel is the parameter's first dimension); the classifier head (``head``)
    only when ``head`` is true: its row c scales class c's logit, an output mask rather than a filter on the
    network's inner components."""
    shapes = {}
    for name, module in model.named_modules():
        if not head and (name == "head" or name.startswith("head.")):
            continue
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            for suffix, param in module.named_parameters(recurse=False):
                shapes[f"{name}.{suffix}" if name else suffix] = int(param.shape[0])
    return shapes


def initial_filters(model: nn.Module, num_classes: int, head: bool = True) -> dict[str, np.ndarray]:
    """Filters that change nothing: ones of shape (classes, channels) per filtered parameter."""
    return {name: np.ones((num_classes, channels), np.float32)
            for name, channels in filter_shapes(model, head).items()}


def filtered(params: Mapping[str, torch.Tensor], filters: Mapping[str, torch.Tensor], row: int) -> dict[str, torch.Tensor]:
    """The parameters with row ``row`` of each layer's filter multiplied into its output channels."""
    out = dict(params)
    for name, alpha in filters.items():
        factor = alpha[row]
        out[name] = params[name] * factor.view(-1, *([1] * (params[name].dim() - 1)))
    return out


def filter_loss(model: nn.Module, params: Mapping[str, torch.Tensor], filters: Mapping[str, torch.Tensor],
                x: torch.Tensor, y: torch.Tensor, row: int, settings: FilterSettings) -> torch.Tensor:
    """One row's loss on a batch: CE of the other classes' samples + 1/(CE + eps) of class ``row``'s samples
    (both under the filtered model), + the sparsity term mean(1 - alpha) over every filter."""
    logits = functional_call(model, filtered(params, filters, row), (x,))
    forget = y == row
    loss = settings.sparsity_weight * torch.cat([(1 - a).flatten() for a in filters.values()]).mean()
    if (~forget).any():
        loss = loss + settings.retain_weight * nn.functional.cross_entropy(logits[~forget], y[~forget])
    if forget.any():
        loss = loss + settings.forget_weight / (nn.functional.cross_entropy(logits[forget], y[forget]) + INVERSE_EPS)
    return loss


def train_filters(model: nn.Module, filters: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                  settings: FilterSettings, seed: int) -> tuple[dict[str, np.ndarray], float]:
    """SGD on the filters alone (the model's weights stay as they are), kept in [0, 1]; returns the new
    filters and the mean loss."""
    if len(y) == 0:
        return {k: np.asarray(v, np.float32).copy() for k, v in filters.items()}, 0.0
    generator = torch.Generator().manual_seed(seed)
    params = {name: p.detach() for name, p in model.named_parameters()}
    alphas = {name: torch.tensor(np.asarray(v, np.float32), requires_grad=True) for name, v in filters.items()}
    num_classes = next(iter(alphas.values())).shape[0]
    optimiser = torch.optim.SGD(alphas.values(), lr=settings.learning_rate, momentum=0.9)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    model.eval()
    total, count = 0.0, 0
    for _ in range(settings.epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            rows = torch.randint(0, num_classes, (settings.rows_per_batch,), generator=generator).tolist()
            optimiser.zero_grad()
            loss = sum(filter_loss(model, params, alphas, inputs[batch], labels[batch], row, settings)
                       for row in rows) / len(rows)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                for alpha in alphas.values():
                    alpha.clamp_(0.0, 1.0)
            total, count = total + float(loss) * len(batch), count + len(batch)
    return {k: v.detach().numpy().copy() for k, v in alphas.items()}, total / max(1, count)


def apply_filter(state: Mapping[str, torch.Tensor], filters: Mapping[str, np.ndarray], forget_class: int
                 ) -> dict[str, torch.Tensor]:
    """The model with ``forget_class`` unlearned: every filtered parameter times its filter's row."""
    tensors = {name: torch.from_numpy(np.asarray(alpha, np.float32)) for name, alpha in filters.items()}
    return {k: v.clone() for k, v in filtered(dict(state), tensors, forget_class).items()}
