"""GENIU, client side: the ``train.geniu`` handler trains the proxy generator on this client's classes (see
strategies/methods/geniu.py); the work is in :mod:`fedunlearn.algorithms.geniu`."""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict

from fedunlearn.algorithms.geniu import GeneratorSettings, build_generator, entropy_targets, train_generator
from fedunlearn.learning.training import predict

from ..job import ClientJob


def generator_training(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    data = job.federation.data
    x, y = job.arrays("all")
    probs, _ = predict(job.model("model"), x, device=job.settings.device)  # the classifier picks each class's least certain sample
    targets = {c: x[i] for c, i in entropy_targets(probs, y).items()} if len(y) else {}
    generator = build_generator(data.num_classes, data.input_shape, seed=0)
    generator.load_state_dict(message.content["arrays"].to_torch_state_dict())
    settings = GeneratorSettings(steps=job.config["geniu-generator-steps"])
    loss = train_generator(generator, targets, settings)
    counts = np.bincount(y, minlength=data.num_classes).astype(np.float32)
    record = ArrayRecord({k: Array(v.detach().numpy().copy()) for k, v in generator.state_dict().items()})
    metrics = MetricRecord({"num-examples": len(y), "partition-id": job.partition_id, "train-loss": loss})
    return Message(RecordDict({"arrays": record, "counts": ArrayRecord({"counts": Array(counts)}),
                               "metrics": metrics}), reply_to=message)


def register(app) -> None:
    app.train("geniu")(generator_training)
