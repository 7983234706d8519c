"""Projected gradient ascent, client side: the target maximises its loss on its forgotten data inside
the L2 ball around the reference model (strategies/methods/ascent.py)."""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from torch import nn

from fedunlearn.algorithms.ascent import project_to_ball
from fedunlearn.learning.training import predict

from ..job import ClientJob


def ascend(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    cfg = job.config
    x, y = job.arrays("forget")
    model = job.model()
    reference = message.content["reference"].to_torch_state_dict()
    params = dict(model.named_parameters())
    center = {n: reference[n] for n in params}
    optimiser = torch.optim.SGD(model.parameters(), lr=cfg["learning-rate"])
    generator = torch.Generator().manual_seed(job.seed)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def accuracy() -> float:
        probs, _ = predict(model, x)
        return float(np.mean(probs.argmax(1) == y)) if len(y) else 0.0

    steps, acc = 0, accuracy()
    for _ in range(cfg["local-epochs"]):
        if acc < cfg["ga-stop-acc"]:
            break
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), cfg["batch-size"]):
            batch = order[start:start + cfg["batch-size"]]
            model.train()
            optimiser.zero_grad()
            (-nn.functional.cross_entropy(model(inputs[batch]), targets[batch])).backward()
            optimiser.step()
            project_to_ball({n: p.data for n, p in params.items()}, center, cfg["ga-ball-radius"])
            steps += 1
            acc = accuracy()
            if acc < cfg["ga-stop-acc"]:
                break
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()),
                          "metrics": MetricRecord({"partition-id": job.partition_id, "steps": steps,
                                                   "forget-acc": acc})})
    return Message(content=content, reply_to=message)


def register(app) -> None:
    app.train("ga")(ascend)
