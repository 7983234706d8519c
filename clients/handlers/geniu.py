"""GENIU, client side: the ``train.geniu`` handler of the original training rounds trains the classifier exactly
as plain local training does and, beside it, every proxy generator the message carries, toward this client's
least certain sample of each class it holds under the classifier it received (see strategies/methods/geniu.py);
the work is in :mod:`fedunlearn.algorithms.geniu`."""

from __future__ import annotations

import time

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord

from fedunlearn.algorithms.geniu import GeneratorSettings, build_generator, entropy_targets, train_generator
from fedunlearn.learning.training import derive_seed, predict, train

from ..job import ClientJob


def training_with_generators(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    data = job.federation.data
    x, y = job.arrays()
    model = job.model()
    names = [k for k in message.content.keys() if f"{k}-config" in message.content]
    targets = {}
    if names and len(y):  # the received classifier picks each class's least certain sample
        probs, _ = predict(model, x, device=job.settings.device)
        targets = {c: x[i] for c, i in entropy_targets(probs, y).items()}
    loss = train(model, x, y, job.settings, job.seed)  # the classifier: exactly plain local training
    records = {}
    for name in names:
        start = time.perf_counter()
        settings = message.content[f"{name}-config"]
        generator = build_generator(data.num_classes, data.input_shape, seed=0)
        generator.load_state_dict(message.content[name].to_torch_state_dict())
        seed = derive_seed(int(settings["seed"]), job.partition_id, job.config.get("server-round", 0))
        generator_loss = train_generator(generator, targets, GeneratorSettings(steps=int(settings["steps"])), seed)
        records[name] = ArrayRecord({k: Array(v.detach().numpy().copy()) for k, v in generator.state_dict().items()})
        records[f"{name}-metrics"] = MetricRecord({"seconds": time.perf_counter() - start, "loss": generator_loss})
    return job.reply(model, num_examples=len(y), records=records, **{"train-loss": loss})


def register(app) -> None:
    app.train("geniu")(training_with_generators)
