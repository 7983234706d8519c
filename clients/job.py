"""What one client needs to answer one message: its configuration, its data and its seed.

Clients are stateless. Each message carries the experiment's keys; the client rebuilds its data,
partition and deletion request from them (cached per process) and its identity from the node config.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict

from fedunlearn.config import SCHEMA, validate
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import Classifier, build_model
from fedunlearn.learning.training import TrainSettings, derive_seed
from fedunlearn.runtime.device import for_client, prepare
from fedunlearn.runtime.faults import inject


@functools.lru_cache(maxsize=4)
def _model_of(name: str, input_shape: tuple[int, ...], num_classes: int) -> Classifier:
    """One model object per architecture and process (a Ray worker or SuperNode answers one message at a time)."""
    return build_model(name, input_shape, num_classes)


@dataclass
class ClientJob:
    message: Message
    config: dict[str, Any]
    partition_id: int
    federation: Federation

    @classmethod
    def from_message(cls, message: Message, context: Context, faults: bool = True) -> "ClientJob":
        """The job a message asks for; with ``faults`` (and ``fault-rate`` > 0) it may fail on purpose."""
        # Ray gives each simulated client one CPU; more torch threads than that only contend.
        torch.set_num_threads(1)
        sent = dict(message.content["config"])
        config = validate({k: v for k, v in sent.items() if k in SCHEMA}, variants=False)  # the server checked them
        config.update({k: v for k, v in sent.items() if k not in SCHEMA})
        if "partition-id" not in context.node_config:
            raise ValueError("node config has no 'partition-id': start the SuperNode with --node-config 'partition-id=N'")
        partition_id = int(context.node_config["partition-id"])
        if faults:
            inject(config, partition_id, message.metadata.message_type)
        prepare(for_client(config["device"]), config["client-gpus"])  # deterministic kernels, the GPU memory cap
        return cls(message, config, partition_id, Federation.from_config(config))

    @property
    def seed(self) -> int:
        """This client's seed for this phase and round."""
        return derive_seed(self.config["seed"], self.config["phase"], self.config["server-round"], self.partition_id)

    @property
    def settings(self) -> TrainSettings:
        return TrainSettings.from_config(self.config)

    def arrays(self, view: str | None = None):
        """This client's (x, y) for ``view`` (default: the view the message asks for)."""
        return self.federation.client_arrays(self.partition_id, view or self.config["view"])

    def model(self, record: str = "arrays") -> Classifier:
        """The global model the message carries (in its ``record``), in this process's model of that
        architecture: building and initialising a fresh one per message would only be overwritten by the
        received weights."""
        data = self.federation.data
        model = _model_of(self.config["model"], data.input_shape, data.num_classes)
        model.load_state_dict(self.message.content[record].to_torch_state_dict())
        model.zero_grad(set_to_none=True)
        return model

    def reply(self, model: Classifier, num_examples: int, records: dict | None = None, **metrics: float) -> Message:
        """The reply: the trained model, metrics (``num-examples`` weights FedAvg) and any extra ``records``."""
        record = MetricRecord({"num-examples": num_examples, "partition-id": self.partition_id, **metrics})
        content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": record, **(records or {})})
        return Message(content=content, reply_to=self.message)
