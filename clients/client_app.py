"""The Flower ClientApp: plain local training on the data view the server asks for.

Methods that need other client work register handlers for ``train.<action>`` messages in
``clients/handlers/`` (one file per method); they are all registered here.
"""

from __future__ import annotations

from flwr.app import Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedunlearn.learning.training import train

from . import handlers
from .job import ClientJob

app = ClientApp()


@app.train()
def local_training(message: Message, context: Context) -> Message:
    """Train the received model on this client's ``view`` data (``all``, ``retain`` or ``forget``)."""
    job = ClientJob.from_message(message, context)
    x, y = job.arrays()
    model = job.model()
    loss = train(model, x, y, job.settings, job.seed)
    return job.reply(model, num_examples=len(y), **{"train-loss": loss})


@app.query("identify")
def identify(message: Message, context: Context) -> Message:
    """Which client this node is: the server maps Flower's node ids to stable client ids with it.

    The node also loads its data and partition now, so that data problems show before training and
    the first timed round does not pay for the loading.
    """
    job = ClientJob.from_message(message, context, faults=False)
    partitions = context.node_config.get("num-partitions")
    if partitions is not None and int(partitions) != job.config["num-clients"]:
        raise ValueError(f"node config num-partitions = {partitions} but the experiment has num-clients = "
                         f"{job.config['num-clients']}; start every SuperNode with num-partitions = num-clients")
    job.arrays("all")
    return Message(RecordDict({"metrics": MetricRecord({"partition-id": job.partition_id})}), reply_to=message)


handlers.register_all(app)
