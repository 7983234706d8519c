"""SalUn, client side: the saliency query and masked random-label training (see strategies/methods/salun.py).

Thin adapters: the work is :func:`fedunlearn.algorithms.salun.saliency_gradient`, :func:`fedunlearn.algorithms.salun.random_labels`
and :func:`fedunlearn.learning.training.train` with a mask.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict

from fedunlearn.algorithms.salun import random_labels, saliency_gradient
from fedunlearn.learning.training import train

from ..job import ClientJob


def gradient(message: Message, context: Context) -> Message:
    """The sum of the gradient of -CE over this client's forgotten samples at the received model."""
    job = ClientJob.from_message(message, context)
    x, y = job.arrays("forget")
    summed = saliency_gradient(job.model(), x, y, job.config["batch-size"])
    record = ArrayRecord({name: Array(np.ascontiguousarray(g, dtype=np.float32)) for name, g in summed.items()})
    metrics = MetricRecord({"partition-id": job.partition_id, "num-examples": len(y)})
    return Message(RecordDict({"gradient": record, "metrics": metrics}), reply_to=message)


def masked_random_labels(message: Message, context: Context) -> Message:
    """Forgotten samples toward random labels, retained ones toward their own, salient weights only."""
    job = ClientJob.from_message(message, context)
    federation = job.federation
    x, y = job.arrays("all")
    forgotten = np.isin(federation.client_indices(job.partition_id, "all"),
                        federation.client_indices(job.partition_id, "forget"))
    labels = y.copy()
    labels[forgotten] = random_labels(int(forgotten.sum()), federation.data.num_classes, job.seed)
    mask = {name: array.numpy() for name, array in message.content["mask"].items()}
    model = job.model()
    loss = train(model, x, labels, job.settings, job.seed, mask=mask)
    return job.reply(model, num_examples=len(y), **{"train-loss": loss})


def register(app) -> None:
    app.query("salun_gradient")(gradient)
    app.train("salun")(masked_random_labels)
