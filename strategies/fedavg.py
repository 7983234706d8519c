"""FedAvg as every phase uses it: Flower's FedAvg plus cost accounting, seeded sampling and a
deterministic aggregation order.

Methods whose clients run a custom action (``train.<action>``) or whose server aggregates more than
the model subclass :class:`AccountedFedAvg` and override only what differs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg
from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

from fedunlearn.cost import Cost
from fedunlearn.training import derive_seed


def payload_bytes(record: ArrayRecord) -> int:
    """Bytes of the serialised arrays in ``record`` (what crosses the wire for the model)."""
    return sum(len(array.data) for array in record.values())


def content_bytes(content: RecordDict) -> int:
    """Bytes of every ArrayRecord in a message's content (model, prototypes, ...)."""
    return sum(payload_bytes(record) for record in content.values() if isinstance(record, ArrayRecord))


IDENTITY_KEYS = ("partition-id",)


def aggregate_train_metrics(records: list[RecordDict], weighted_by_key: str) -> MetricRecord:
    """Weighted mean of the clients' train metrics, leaving out identities (not quantities)."""
    metrics = aggregate_metricrecords(records, weighted_by_key)
    for key in IDENTITY_KEYS:
        metrics.pop(key, None)
    return metrics


class ClientFailure(RuntimeError):
    """A client answered a message with an error, or did not answer."""


def exchange(grid: Grid, messages: list[Message], timeout: float, what: str) -> list[Message]:
    """Send ``messages`` and return every reply in client order; any error or missing reply is a
    :class:`ClientFailure` naming ``what`` was asked (for one-off rounds outside a strategy's loop)."""
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    for reply in replies:
        if reply.has_error():
            raise ClientFailure(f"{what}: node {reply.metadata.src_node_id} failed: {reply.error.reason}")
    if len(replies) < len(messages):
        raise ClientFailure(f"{what}: {len(messages) - len(replies)} of {len(messages)} nodes did not answer "
                            f"within {timeout:.0f} s")
    return sorted(replies, key=lambda m: m.content["metrics"]["partition-id"])


class AccountedFedAvg(FedAvg):
    """Flower's FedAvg that also counts the phase's cost and samples clients reproducibly.

    Parameters
    ----------
    phase
        Name of the phase (``original``, ``retrain``, a method name); part of every client seed.
    seed
        The experiment seed.
    fraction_train
        Share of the connected clients sampled in each round (at least one).
    action
        Client action to call: messages go out as ``train.<action>`` (``default``: plain local training).
    on_round
        Called after each round with (round, aggregated train metrics).
    exclude
        Node ids never sampled (a deleted client).
    keep_client
        A client whose local model of the last round is kept in ``self.kept`` (for gradient ascent).
    recorders
        Objects whose ``record(server_round, sent_arrays, replies)`` sees every round (FedEraser's store).
    """

    def __init__(
        self,
        phase: str,
        seed: int,
        fraction_train: float = 1.0,
        action: str = "default",
        on_round: Callable[[int, dict], None] | None = None,
        exclude: frozenset[int] = frozenset(),
        keep_client: int | None = None,
        recorders: tuple = (),
    ) -> None:
        super().__init__(
            fraction_train=fraction_train,
            min_train_nodes=1,
            min_available_nodes=1,
            train_metrics_aggr_fn=aggregate_train_metrics,
        )
        self.phase = phase
        self.seed = seed
        self.action = action
        self.on_round = on_round
        self.exclude = exclude
        self.keep_client = keep_client
        self.recorders = recorders
        self.kept: dict = {}
        self.sent: ArrayRecord | None = None
        self.cost = Cost()
        self._round_start = 0.0

    def sample(self, grid: Grid, server_round: int) -> list[int]:
        """Node ids to train this round: a seeded sample of the sorted connected nodes."""
        nodes = sorted(set(grid.get_node_ids()) - self.exclude)
        size = min(len(nodes), max(1, round(len(nodes) * self.fraction_train)))
        rng = random.Random(derive_seed(self.seed, self.phase, server_round))
        return sorted(rng.sample(nodes, size))

    def train_content(self, arrays: ArrayRecord, config: ConfigRecord) -> RecordDict:
        """What every training message carries; methods that send more (prototypes, ...) extend it."""
        return RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._round_start = time.perf_counter()
        self.sent = arrays
        config["server-round"] = server_round
        content = self.train_content(arrays, config)
        message_type = MessageType.TRAIN if self.action == "default" else f"{MessageType.TRAIN}.{self.action}"
        nodes = self.sample(grid, server_round)
        self.cost.client_rounds += len(nodes)
        self.cost.bytes_down += content_bytes(content) * len(nodes)
        return [Message(content=content, message_type=message_type, dst_node_id=node) for node in nodes]

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        for reply in replies:
            if reply.has_error():
                raise ClientFailure(
                    f"{self.phase}, round {server_round}: node {reply.metadata.src_node_id} failed: {reply.error.reason}"
                )
        # Aggregate in client order, not arrival order, so floating-point sums are reproducible.
        replies.sort(key=lambda m: m.content["metrics"]["partition-id"])
        self.cost.bytes_up += sum(content_bytes(m.content) for m in replies)
        total_examples = sum(m.content["metrics"][self.weighted_by_key] for m in replies)
        if self.keep_client is not None:
            self.kept = {"total_examples": total_examples}
            for m in replies:
                if m.content["metrics"]["partition-id"] == self.keep_client:
                    self.kept.update(arrays=m.content[self.arrayrecord_key],
                                     examples=m.content["metrics"][self.weighted_by_key])
        self.cost.rounds += 1
        for recorder in self.recorders:
            recorder.record(server_round, self.sent, replies)
        if total_examples == 0:
            arrays, metrics = None, None  # no client had data to train on: keep the model
        else:
            arrays, metrics = self.aggregate_models(server_round, replies)
        if metrics is not None:
            metrics["round-seconds"] = time.perf_counter() - self._round_start
        if self.on_round is not None:
            self.on_round(server_round, dict(metrics or {}))
        return arrays, metrics

    def aggregate_models(
        self, server_round: int, replies: list[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """The new global model from the round's replies (in client order): FedAvg unless overridden."""
        return super().aggregate_train(server_round, replies)

    def configure_evaluate(self, server_round, arrays, config, grid) -> Iterable[Message]:
        return []  # models are scored by the central evaluator, not by federated evaluation

    def aggregate_evaluate(self, server_round, replies) -> MetricRecord | None:
        return None
