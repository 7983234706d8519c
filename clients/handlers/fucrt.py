"""FUCRT, client side: the selection query and transformation learning (see strategies/methods/fucrt.py).

Thin adapters: the work is :func:`fedunlearn.algorithms.fucrt.client_selection` and
:func:`fedunlearn.algorithms.fucrt.client_transformation`.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict

from fedunlearn.algorithms.fucrt import AlignmentSettings, client_selection, client_transformation

from ..job import ClientJob


def _array(values: np.ndarray) -> Array:
    return Array(np.ascontiguousarray(values, dtype=np.float32))


def select(message: Message, context: Context) -> Message:
    """Score this client's data with the original model: proposed classes, their mass, prototype sums."""
    job = ClientJob.from_message(message, context)
    cfg, request = job.config, job.federation.request
    x, y = job.arrays("all")
    # A class deleted by an earlier request (sequential requests) is no place to send forgotten samples.
    chosen = client_selection(job.model(), x, y, request.forget_class, job.federation.data.num_classes,
                              cfg["fucrt-min-samples"], cfg["fucrt-select-threshold"], request.earlier_classes,
                              job.settings.device)
    record = ArrayRecord({"proposed": _array(chosen.proposed), "second-sums": _array(chosen.second_sums),
                          "sums": _array(chosen.sums), "counts": _array(chosen.counts)})
    content = RecordDict({"selection": record, "metrics": MetricRecord({"partition-id": job.partition_id})})
    return Message(content=content, reply_to=message)


def transform(message: Message, context: Context) -> Message:
    """One round of transformation learning on all of this client's data, forgotten samples relabelled."""
    job = ClientJob.from_message(message, context)
    x, y = job.arrays("all")
    model = job.model()
    received = message.content["prototypes"]
    n, loss, sums, counts = client_transformation(
        model, x, y, job.federation.request.forget_class, list(job.config["fucrt-classes"]),
        received["prototypes"].numpy(), received["counts"].numpy(), job.settings,
        AlignmentSettings.from_config(job.config), job.seed)
    prototypes_record = ArrayRecord({"sums": _array(sums), "counts": _array(counts)})
    return job.reply(model, num_examples=n, records={"prototypes": prototypes_record}, **{"train-loss": loss})


def register(app) -> None:
    app.query("fucrt_select")(select)
    app.train("fucrt")(transform)
