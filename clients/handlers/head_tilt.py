"""Head tilt, client side: forgotten-class samples trained toward the tilted target (strategies/methods/head_tilt.py)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import Context, Message

from fedunlearn.algorithms.head_tilt import class_similarity, tilted_target
from fedunlearn.learning.training import IGNORE, predict, train

from ..job import ClientJob


def tilted_training(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    cfg = job.config
    forget_class = job.federation.request.forget_class
    x, y = job.arrays("all")
    model = job.model()
    forgotten = y == forget_class
    labels = np.where(forgotten, IGNORE, y)
    targets = torch.zeros((len(y), model.head.out_features))
    if forgotten.any():  # targets from the received global model, fixed for the round
        probs, _ = predict(model, x[forgotten], device=job.settings.device)
        similarity = class_similarity(model.head.weight.detach().numpy(), forget_class)
        targets[torch.from_numpy(np.flatnonzero(forgotten))] = torch.from_numpy(
            tilted_target(probs, forget_class, similarity, cfg["tilt-beta"])).float()

    def soft_cross_entropy(features: torch.Tensor, batch_labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        mine = batch_labels == IGNORE
        if not mine.any():
            return features.sum() * 0.0
        log_probs = F.log_softmax(model.head(features[mine]), dim=1)
        return -(targets[indices[mine.cpu()]].to(features.device) * log_probs).sum(dim=1).mean()

    loss = train(model, x, labels, job.settings, job.seed, extra_loss=soft_cross_entropy)
    return job.reply(model, num_examples=len(y), **{"train-loss": loss})


def register(app) -> None:
    app.train("tilt")(tilted_training)
