"""Random Labels, client side: the ``train.random_labels`` handler."""

from __future__ import annotations

import numpy as np
from fedunlearn.clients.job import ClientJob
from flwr.app import Context, Message

from fedunlearn.learning.training import train

from .labels import random_other_labels


def random_label_training(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    x, y = job.arrays("all")
    forgotten = np.isin(job.federation.client_indices(job.partition_id, "all"),
                        job.federation.client_indices(job.partition_id, "forget"))
    labels = y.copy()
    labels[forgotten] = random_other_labels(y[forgotten], job.federation.data.num_classes, job.seed)
    keep = forgotten | bool(job.config.get("random-labels-retain", True))
    model = job.model()
    loss = train(model, x[keep], labels[keep], job.settings, job.seed)
    return job.reply(model, num_examples=int(keep.sum()), **{"train-loss": loss})


def register(app) -> None:
    app.train("random_labels")(random_label_training)
