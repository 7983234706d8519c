"""FUCRT, client side: the selection query and transformation learning (see strategies/methods/fucrt.py)."""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict

from fedunlearn.fucrt import (
    local_transformation_set,
    prototype_contrastive_loss,
    prototype_sums,
    relabel,
    supervised_contrastive_loss,
)
from fedunlearn.training import predict, train

from ..job import ClientJob


def _array(values: np.ndarray) -> Array:
    return Array(np.ascontiguousarray(values, dtype=np.float32))


def select(message: Message, context: Context) -> Message:
    """Score this client's data with the original model: proposed classes, their mass, prototype sums."""
    job = ClientJob.from_message(message, context)
    cfg, num_classes = job.config, job.federation.data.num_classes
    request = job.federation.request
    x, y = job.arrays("all")
    probs, features = predict(job.model(), x)
    proposed = np.zeros(num_classes)
    second_sums = np.zeros(num_classes)
    if np.sum(y == request.forget_class) >= cfg["fucrt-min-samples"]:
        # A class deleted by an earlier request (sequential requests) is no place to send forgotten samples.
        candidates = probs.copy()
        candidates[:, list(request.earlier_classes)] = 0.0
        classes, second_sums = local_transformation_set(candidates, y, request.forget_class,
                                                        cfg["fucrt-select-threshold"])
        proposed[classes] = 1
    sums, counts = prototype_sums(features, y, num_classes)
    record = ArrayRecord({"proposed": _array(proposed), "second-sums": _array(second_sums),
                          "sums": _array(sums), "counts": _array(counts)})
    content = RecordDict({"selection": record, "metrics": MetricRecord({"partition-id": job.partition_id})})
    return Message(content=content, reply_to=message)


def transform(message: Message, context: Context) -> Message:
    """One round of transformation learning on all of this client's data, forgotten samples relabelled."""
    job = ClientJob.from_message(message, context)
    cfg, num_classes = job.config, job.federation.data.num_classes
    x, y = job.arrays("all")
    model = job.model()
    probs, _ = predict(model, x)  # relabel under the current global model
    labels = relabel(probs, y, job.federation.request.forget_class, list(cfg["fucrt-classes"]))
    received = message.content["prototypes"]
    prototypes = torch.from_numpy(received["prototypes"].numpy())
    present = torch.from_numpy(received["counts"].numpy() > 0)
    temperature = cfg["fucrt-temperature"]

    def alignment(features: torch.Tensor, batch_labels: torch.Tensor, _indices: torch.Tensor) -> torch.Tensor:
        loss = features.sum() * 0.0
        if cfg["fucrt-lambda-local"] > 0:
            loss = loss + cfg["fucrt-lambda-local"] * supervised_contrastive_loss(features, batch_labels, temperature)
        if cfg["fucrt-lambda-global"] > 0:
            loss = loss + cfg["fucrt-lambda-global"] * prototype_contrastive_loss(
                features, batch_labels, prototypes, present, temperature)
        return loss

    loss = train(model, x, labels, job.settings, job.seed, extra_loss=alignment)
    _, features = predict(model, x)
    sums, counts = prototype_sums(features, labels, num_classes)
    prototypes_record = ArrayRecord({"sums": _array(sums), "counts": _array(counts)})
    return job.reply(model, num_examples=len(labels), records={"prototypes": prototypes_record},
                     **{"train-loss": loss})


def register(app) -> None:
    app.query("fucrt_select")(select)
    app.train("fucrt")(transform)
