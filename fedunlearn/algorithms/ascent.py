"""Projected gradient ascent (Halimi et al., arXiv 2207.05521), as pure functions on parameter dicts.

The target client maximises its loss on the forgotten data but stays inside an L2 ball around a
reference model: the average of the other clients' models, which the server derives from the final
global model and the target's last local model without asking anyone:
w_ref = (n_total * w_global - n_target * w_target) / (n_total - n_target) (FedAvg's sample weights).
"""

from __future__ import annotations

from typing import Mapping

import torch


def others_average(
    global_state: Mapping[str, torch.Tensor], target_state: Mapping[str, torch.Tensor], n_total: float, n_target: float
) -> dict[str, torch.Tensor]:
    """The sample-weighted average of every client but the target, undone from a FedAvg aggregate."""
    if n_total <= n_target:
        raise ValueError("the target client held every sample: there is no other client to average")
    return {k: (n_total * global_state[k].double() - n_target * target_state[k].double()).div(n_total - n_target)
            .to(global_state[k].dtype) for k in global_state}


def distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], names: list[str]) -> float:
    """L2 distance between two models over the parameters ``names`` (all tensors flattened together)."""
    return float(torch.sqrt(sum(((a[n].double() - b[n].double()) ** 2).sum() for n in names)))


@torch.no_grad()
def project_to_ball(params: Mapping[str, torch.Tensor], center: Mapping[str, torch.Tensor], radius: float) -> bool:
    """Project ``params`` in place onto the L2 ball of ``radius`` around ``center``; True if it moved them."""
    names = list(params)
    gap = distance(params, center, names)
    if gap <= radius:
        return False
    scale = radius / gap
    for n in names:
        params[n].copy_(center[n] + (params[n] - center[n]) * scale)
    return True
