"""Projected gradient ascent (Halimi et al., arXiv 2207.05521), as pure functions on parameter dicts.

The target client maximises its loss on the forgotten data but stays inside an L2 ball around a
reference model: the average of the other clients' models, which the server derives from the final
global model and the target's last local model without asking anyone:
w_ref = (n_total * w_global - n_target * w_target) / (n_total - n_target) (FedAvg's sample weights).

The settings follow the authors' notebook (IBM/federated-unlearning, ``federated_unlearning.ipynb``): its
``get_distance`` is the *squared* L2 distance; the ball's squared radius is a third of the mean squared
distance from the reference to 10 random models; SGD with momentum 0.9 at 0.01, gradients clipped to norm 5,
batches of 128, at most 5 epochs, starting from the reference; the ascent stops once its squared distance to
the target's own last model exceeds 2.2 (we keep that as a ratio to the reference's starting distance, 0.45
there).
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


MOMENTUM = 0.9  # the notebook's SGD
CLIP_NORM = 5.0  # clip_grad
BATCH_SIZE = 128  # the target's data loader
RANDOM_MODELS = 10  # random models the radius is averaged over


def squared_distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], names: list[str]) -> float:
    """Squared L2 distance between two models over the parameters ``names`` (the notebook's get_distance)."""
    return float(sum(((a[n].double() - b[n].double()) ** 2).sum() for n in names))


def distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], names: list[str]) -> float:
    """L2 distance between two models over the parameters ``names`` (all tensors flattened together)."""
    return squared_distance(a, b, names) ** 0.5


def ball_radius(reference: Mapping[str, torch.Tensor], random_states: list[Mapping[str, torch.Tensor]],
                names: list[str], share: float) -> float:
    """The ball's L2 radius: the square root of ``share`` times the mean *squared* distance from the reference
    to the random models (the notebook: threshold = mean / 3, projected to sqrt(threshold))."""
    mean = sum(squared_distance(reference, r, names) for r in random_states) / len(random_states)
    return (share * mean) ** 0.5


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
