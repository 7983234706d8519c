"""FUCRT, server side: Federated Unlearning via Class-aware Representation Transformation
(Guo et al., arXiv 2410.06848; ICCV 2025). Class requests.

1. Selection round (``query.fucrt_select``): every client scores its data with the original model and
   returns its proposed transformation classes, their probability mass and its per-class prototype
   sums; the server builds the global transformation set (``fucrt-selection``: ``vote`` as in the
   paper, or the ``random`` and ``nearest-centroid`` ablations).
2. ``unlearn-rounds`` of transformation learning (``train.fucrt``): clients relabel forgotten samples to
   transformation classes and train with CE + contrastive alignment; the server averages models (FedAvg)
   and prototypes (count-weighted) and broadcasts both.

The algorithms are pure functions in ``fedunlearn/algorithms/fucrt.py``.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

from fedunlearn.algorithms.fucrt import aggregate_prototypes, nearest_centroid_set, vote_or_nearest
from fedunlearn.learning.training import derive_seed
from fedunlearn.runtime.phase import Cost, PhaseResult

from ..fedavg import AccountedFedAvg, content_bytes, payload_bytes
from . import register
from .base import UnlearningMethod

SELECT_MESSAGE = "query.fucrt_select"


class FucrtStrategy(AccountedFedAvg):
    """FedAvg on models plus count-weighted averaging of class prototypes, which travel with the model."""

    def __init__(self, prototypes: np.ndarray, counts: np.ndarray, forget_class: int, **kwargs) -> None:
        super().__init__(action="fucrt", **kwargs)
        self.forget_class = forget_class
        self.prototypes, self.counts = prototypes, counts

    def train_content(self, arrays: ArrayRecord, config: ConfigRecord) -> RecordDict:
        counts = self.counts.copy()
        counts[self.forget_class] = 0  # nothing is labelled with the forgotten class any more
        prototypes = ArrayRecord({"prototypes": Array(self.prototypes.astype(np.float32)),
                                  "counts": Array(counts.astype(np.float32))})
        return RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config, "prototypes": prototypes})

    def state(self) -> dict:
        return {**super().state(), "prototypes": torch.from_numpy(self.prototypes.copy()),
                "counts": torch.from_numpy(np.asarray(self.counts).copy())}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.prototypes, self.counts = state["prototypes"].numpy(), state["counts"].numpy()

    def aggregate_train(self, server_round, replies):
        replies = sorted(replies, key=lambda m: -1 if m.has_error() else m.content["metrics"]["partition-id"])
        # Flower's FedAvg expects one ArrayRecord per reply: take the prototypes off before it aggregates.
        records = [m.content.pop("prototypes") for m in replies if not m.has_error()]
        self.cost.bytes_up += sum(payload_bytes(r) for r in records)
        arrays, metrics = super().aggregate_train(server_round, replies)
        self.prototypes, self.counts = aggregate_prototypes([r["sums"].numpy() for r in records],
                                                            [r["counts"].numpy() for r in records])
        return arrays, metrics


@register
class Fucrt(UnlearningMethod):
    """FUCRT (Guo et al., 2024): forgotten samples transformed toward voted classes, contrastive alignment."""

    name = "fucrt"
    request_kinds = frozenset({"class", "sequential"})

    def select(self, session, original: PhaseResult) -> tuple[list[int], dict, np.ndarray, np.ndarray, Cost]:
        """The selection round: (transformation classes, details for the report, prototypes, counts, cost)."""
        cfg = self.config
        start = time.perf_counter()
        nodes = sorted(session.grid.get_node_ids())
        if cfg["fucrt-select-fraction"] < 1:  # a seeded sample of the clients (the paper asks every client)
            size = max(1, round(len(nodes) * cfg["fucrt-select-fraction"]))
            nodes = sorted(random.Random(derive_seed(cfg["seed"], self.label, "selection")).sample(nodes, size))
        session.progress.message(f"{self.label}: selection round, asking {len(nodes):,} clients")
        content = RecordDict({"arrays": original.arrays, "config": session.train_config(self.label, "all")})
        messages = [Message(content=content, message_type=SELECT_MESSAGE, dst_node_id=n) for n in nodes]
        cost = Cost(rounds=1, bytes_down=content_bytes(content) * len(nodes))
        replies = session.exchange(messages, f"{self.label}, selection", required=cfg["min-clients"], cost=cost)
        records = [m.content["selection"] for m in replies]
        local_sets = [list(np.flatnonzero(r["proposed"].numpy())) for r in records]
        local_sums = [r["second-sums"].numpy() for r in records]
        prototypes, counts = aggregate_prototypes([r["sums"].numpy() for r in records],
                                                  [r["counts"].numpy() for r in records])
        forget_class = session.request.forget_class  # this step's class under sequential requests
        voted, fallback = vote_or_nearest(local_sets, local_sums, prototypes, counts > 0, forget_class)
        if cfg["fucrt-selection"] == "vote":
            classes = voted
        elif cfg["fucrt-selection"] == "random":
            candidates = [c for c in range(len(counts)) if c != forget_class and counts[c] > 0]
            classes = sorted(random.Random(derive_seed(cfg["seed"], "fucrt-random")).sample(candidates, len(voted)))
        else:
            classes = nearest_centroid_set(prototypes, counts > 0, forget_class, len(voted))
        cost.bytes_up = sum(content_bytes(m.content) for m in replies)
        cost.seconds, cost.failures = time.perf_counter() - start, len(messages) - len(replies)
        details = {
            "transformation_classes": [int(c) for c in classes],
            "selection": cfg["fucrt-selection"],
            "voted_classes": [int(c) for c in voted],
            "local_sets": {str(m.content["metrics"]["partition-id"]): [int(c) for c in s]
                           for m, s in zip(replies, local_sets) if s},
            "local_set_sizes": dict(Counter(len(s) for s in local_sets if s)),
            "vote_fallback": fallback,
        }
        return classes, details, prototypes, counts, cost

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        classes, details, prototypes, counts, selection_cost = self.select(session, original)
        session.progress.message(f"{self.label}: transformation classes {classes} ({self.config['fucrt-selection']}"
                                 + ("; no client proposed a class, so the vote fell back to the nearest centroid)"
                                    if details["vote_fallback"] else ")"))
        strategy = FucrtStrategy(
            prototypes, counts, session.request.forget_class, **session.strategy_kwargs(self.label, "all"))
        result = session.run_phase(self.label, original.arrays, self.config["unlearn-rounds"], view="all",
                                   strategy=strategy, **{"fucrt-classes": [int(c) for c in classes]})
        result.cost = selection_cost.add(result.cost)
        result.details = details
        return result
