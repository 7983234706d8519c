"""Projected gradient ascent, client side: the target maximises its loss on its forgotten data inside
the L2 ball around the reference model, with the notebook's optimiser, clipping and early stop
(strategies/methods/ascent.py)."""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from torch import nn

from fedunlearn.algorithms.ascent import BATCH_SIZE, CLIP_NORM, MOMENTUM, project_to_ball, squared_distance
from fedunlearn.learning.training import predict

from ..job import ClientJob


def ascend(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    cfg = job.config
    x, y = job.arrays("forget")
    model = job.model()  # the reference: the ball's centre, where the ascent starts
    own = message.content["target"].to_torch_state_dict()  # this client's last local model of the training
    params = dict(model.named_parameters())
    names = list(params)
    center = {n: p.detach().clone() for n, p in params.items()}
    optimiser = torch.optim.SGD(model.parameters(), lr=cfg["ga-learning-rate"], momentum=MOMENTUM)
    generator = torch.Generator().manual_seed(job.seed)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    # The notebook's early stop, relative to where the reference starts (its absolute 2.2 is its model's scale).
    limit = cfg["ga-stop-ratio"] * squared_distance({n: p.data for n, p in params.items()}, own, names)
    steps, stopped, gap = 0, False, 0.0
    for _ in range(cfg["ga-epochs"]):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            model.train()
            optimiser.zero_grad()
            (-nn.functional.cross_entropy(model(inputs[batch]), targets[batch])).backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimiser.step()
            project_to_ball({n: p.data for n, p in params.items()}, center, cfg["ga-ball-radius"])
            steps += 1
            gap = squared_distance({n: p.data for n, p in params.items()}, own, names)
            if gap > limit:
                stopped = True
                break
        if stopped:
            break
    probs, _ = predict(model, x)
    acc = float(np.mean(probs.argmax(1) == y)) if len(y) else 0.0
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()),
                          "metrics": MetricRecord({"partition-id": job.partition_id, "steps": steps,
                                                   "forget-acc": acc, "target-distance": gap,
                                                   "stopped": int(stopped)})})
    return Message(content=content, reply_to=message)


def register(app) -> None:
    app.train("ga")(ascend)
