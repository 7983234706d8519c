"""NoT's weight negation (Khalil et al., CVPR 2025) and the weight perturbations of its ablation, as pure
functions on a model's parameters.

A *layer* is a module that holds parameters of its own (a convolution, a linear layer, a batch norm), in
the order the model registers them, which is the order of the forward pass for every model here.
``first`` and ``last`` mean the first and last layers with a weight matrix or kernel (a convolution or a
linear layer); ``all`` means every layer. Buffers (batch-norm running statistics) are never changed.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn


def layers(model: nn.Module) -> list[tuple[str, list[str]]]:
    """(module name, its parameter names) for every module with parameters of its own, in order."""
    out = []
    for name, module in model.named_modules():
        own = [f"{name}.{p}" if name else p for p, _ in module.named_parameters(recurse=False)]
        if own:
            out.append((name, own))
    return out


def select_parameters(model: nn.Module, spec: str, negate_bias: bool) -> list[str]:
    """The parameter names ``spec`` names: ``first``, ``last``, ``all`` or comma-separated parameter names.

    For ``first``/``last``/``all`` a layer's ``weight`` is always chosen and its ``bias`` only with
    ``negate_bias``. Raises ValueError for an unknown parameter name.
    """
    if spec in ("first", "last", "all"):
        chosen_layers = layers(model)
        if spec != "all":
            weighted = [(n, ps) for n, ps in chosen_layers if dict(model.named_parameters())[ps[0]].dim() >= 2]
            chosen_layers = [weighted[0] if spec == "first" else weighted[-1]]
        return [p for _, ps in chosen_layers for p in ps if p.endswith(".weight") or p == "weight"
                or (negate_bias and (p.endswith(".bias") or p == "bias"))]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    known = dict(model.named_parameters())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown parameter names {unknown}; this model has: {', '.join(known)}")
    return names


def negate(state: Mapping[str, torch.Tensor], names: list[str]) -> dict[str, torch.Tensor]:
    """NoT: theta_l -> -theta_l for the named parameters; every other tensor unchanged."""
    return {k: -v if k in names else v.clone() for k, v in state.items()}


def gaussian_like(state: Mapping[str, torch.Tensor], names: list[str], seed: int) -> dict[str, torch.Tensor]:
    """Ablation: each named tensor replaced by Gaussian noise scaled to the tensor's own L2 norm (the norm
    the negated tensor has), so the perturbation differs from negation in direction only."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        if k in names:
            noise = torch.randn(v.shape, generator=generator, dtype=v.dtype)
            out[k] = noise * (v.norm() / noise.norm().clamp_min(1e-12))
        else:
            out[k] = v.clone()
    return out


def reinitialise(state: Mapping[str, torch.Tensor], names: list[str], fresh: Mapping[str, torch.Tensor]) -> dict:
    """Ablation: the named tensors taken from a freshly initialised model (``fresh``)."""
    return {k: fresh[k].clone() if k in names else v.clone() for k, v in state.items()}
