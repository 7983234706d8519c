"""WF-Net, client side: the ``train.wfnet`` handler trains the filters of the frozen model it receives (see
strategies/methods/wfnet.py); the work is :func:`fedunlearn.algorithms.wfnet.train_filters`."""

from __future__ import annotations

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict

from fedunlearn.algorithms.wfnet import FilterSettings, train_filters

from ..job import ClientJob


def filter_training(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    cfg = job.config
    x, y = job.arrays("all")
    settings = FilterSettings(epochs=cfg["local-epochs"], batch_size=cfg["batch-size"],
                              learning_rate=cfg["wfnet-learning-rate"], sparsity_weight=cfg["wfnet-sparsity"],
                              forget_weight=cfg["wfnet-forget-weight"], rows_per_batch=cfg["wfnet-rows-per-batch"])
    filters = {name: array.numpy() for name, array in message.content["arrays"].items()}
    trained, loss = train_filters(job.model("model"), filters, x, y, settings, job.seed)
    record = ArrayRecord({name: Array(values) for name, values in trained.items()})
    metrics = MetricRecord({"num-examples": len(y), "partition-id": job.partition_id, "train-loss": loss})
    return Message(RecordDict({"arrays": record, "metrics": metrics}), reply_to=message)


def register(app) -> None:
    app.train("wfnet")(filter_training)
