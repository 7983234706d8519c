"""FedAvg as every phase uses it: Flower's FedAvg plus cost accounting, seeded sampling and a
deterministic aggregation order.

Methods whose clients run a custom action (``train.<action>``) or whose server aggregates more than
the model subclass :class:`AccountedFedAvg` and override only what differs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Result
from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

from fedunlearn.learning.training import derive_seed
from fedunlearn.runtime.checkpoint import kept_from, kept_payload
from fedunlearn.runtime.deadline import AnswerClock
from fedunlearn.runtime.faults import HANG
from fedunlearn.runtime.phase import Cost


def payload_bytes(record: ArrayRecord) -> int:
    """Bytes of the serialised arrays in ``record`` (what crosses the wire for the model)."""
    return sum(len(array.data) for array in record.values())


def content_bytes(content: RecordDict) -> int:
    """Bytes of every ArrayRecord in a message's content (model, prototypes, ...)."""
    return sum(payload_bytes(record) for record in content.values() if isinstance(record, ArrayRecord))


IDENTITY_KEYS = ("partition-id",)
LOG = logging.getLogger("fedunlearn")

POLL_SECONDS = 0.005  # the shortest wait between two looks for replies (simulation)
POLL_PER_MESSAGE = 0.0002  # ... growing with the messages in flight, since each look scans them all
FLOWER_POLL = 0.1  # Flower's own interval, the longest


def poll_interval(in_flight: int) -> float:
    """Seconds a simulation grid waits between two looks for replies while ``in_flight`` messages are out.

    Flower's in-memory grid looks every 0.1 s: a floor of 0.1-0.2 s under every round, however little work
    it holds. Each look scans every message in flight, so looking every 5 ms while 1,000 are out (the
    identify round, FUCRT's selection at 1,000 clients) kept a core busy: the interval grows by 0.2 ms per
    message, up to Flower's 0.1 s (experiments/results/scale.md).
    """
    return min(FLOWER_POLL, max(POLL_SECONDS, in_flight * POLL_PER_MESSAGE))


DEPLOYMENT_POLL = 0.5  # seconds between two looks for replies on a deployment grid (one HTTP request each)


def send_and_receive(grid: Grid, messages: list[Message], timeout: float, clock: AnswerClock | None = None,
                     kind: str | None = None) -> list[Message]:
    """Send ``messages`` (one round: one kind of work) and gather the replies until every client has answered
    or the round's deadline has passed: ``timeout`` seconds, or with a ``clock`` the deadline that follows
    the federation (:mod:`fedunlearn.runtime.deadline`), capped by ``timeout``. Looks for replies as often as
    :func:`poll_interval` says in simulation. A simulated hang (``fault-rate``) answers at once with a reason
    that marks it; it is taken for no answer, as the client it stands for would give none. ``kind`` names the
    work for the clock (default: the message type)."""
    if not messages:
        return []
    kind, sent = kind or messages[0].metadata.message_type, len(messages)
    interval = poll_interval(sent) if hasattr(grid, "pull_interval") else DEPLOYMENT_POLL
    start = time.monotonic()
    waiting = set(grid.push_messages(messages))
    replies, answer_times, hung = [], [], 0
    while True:
        arrived = list(grid.pull_messages(waiting)) if waiting else []
        elapsed = time.monotonic() - start
        hangs = [m for m in arrived if m.has_error() and HANG in m.error.reason]
        hung += len(hangs)
        replies += [m for m in arrived if m not in hangs]
        answer_times += [elapsed for m in arrived if not m.has_error()]  # an error says nothing of work time
        waiting -= {m.metadata.reply_to_message_id for m in arrived}
        deadline = min(timeout, clock.deadline(kind, sent, answer_times)) if clock is not None else timeout
        if (not waiting and not hung) or elapsed >= deadline:
            break
        time.sleep(max(0.0, deadline - elapsed) if not waiting else min(interval, max(0.0, deadline - elapsed)))
    if clock is not None:
        clock.record(kind, sent, answer_times)
    return replies


def aggregate_train_metrics(records: list[RecordDict], weighted_by_key: str) -> MetricRecord:
    """Weighted mean of the clients' train metrics, leaving out identities (not quantities)."""
    metrics = aggregate_metricrecords(records, weighted_by_key)
    for key in IDENTITY_KEYS:
        metrics.pop(key, None)
    return metrics


class ClientFailure(RuntimeError):
    """Fewer clients answered a round than it needs (``min-clients``)."""


def answered(replies: Iterable[Message], sent: int, required: int, what: str) -> list[Message]:
    """The replies without errors, in client order (not arrival order, so that sums are reproducible).

    ``sent - len(result)`` clients failed (an error, or no answer before the timeout); fewer than
    ``required`` answers is a :class:`ClientFailure` naming ``what`` was asked and why the others failed.
    """
    replies = list(replies)
    ok = [m for m in replies if not m.has_error()]
    for m in replies:
        if m.has_error() and "injected fault" not in m.error.reason:
            LOG.warning("%s: node %s failed: %s", what, m.metadata.src_node_id,
                        m.error.reason.strip().splitlines()[-1][:300])
    if len(replies) < sent:
        LOG.warning("%s: %d of %d clients did not answer in time", what, sent - len(replies), sent)
    if len(ok) < min(required, sent):
        errors = sorted({m.error.reason.strip().splitlines()[-1][:160] for m in replies if m.has_error()})
        raise ClientFailure(
            f"{what}: {len(ok)} of {sent} clients answered, fewer than min-clients = {required}"
            f" ({sent - len(replies)} did not answer in time{'; errors: ' + ' | '.join(errors) if errors else ''})"
        )
    return sorted(ok, key=lambda m: m.content["metrics"]["partition-id"])


def exchange(grid: Grid, messages: list[Message], timeout: float, what: str, required: int,
             clock: AnswerClock | None = None) -> list[Message]:
    """Send ``messages`` (a one-off round outside a strategy's loop) and return the answers in client order;
    see :func:`send_and_receive` for the deadline and :func:`answered` for failures."""
    return answered(send_and_receive(grid, messages, timeout, clock), len(messages), required, what)


def deadline_for(clock: AnswerClock | None, kind: str, sent: int, timeout: float) -> float:
    """Seconds the server will wait for a round of ``sent`` messages of ``kind``, as known when sending."""
    return min(timeout, clock.deadline(kind, sent)) if clock is not None else timeout


def ask_with_retries(grid: Grid, messages: list[Message], timeout: float, clock: AnswerClock | None,
                     retries: int, kind: str | None = None) -> tuple[list[Message], list[Message]]:
    """Send a round's messages; clients that fail (an error, or no answer by the deadline) are asked again,
    up to ``retries`` times, each attempt with its own deadline, before the round goes on without them.

    Returns each client's last reply (failed clients that never answered have none) and the messages sent
    again. A client's work depends on the round and not on the attempt, so a retry that succeeds gives the
    answer the first attempt would have given: a round loses a client only when every attempt fails.
    """
    last = {m.metadata.src_node_id: m for m in send_and_receive(grid, messages, timeout, clock, kind)}
    sent_again: list[Message] = []
    for attempt in range(1, retries + 1):
        failed = [m for m in messages if m.metadata.dst_node_id not in last or last[m.metadata.dst_node_id].has_error()]
        if not failed:
            break
        again = [attempt_again(m, attempt, deadline_for(clock, kind or m.metadata.message_type, len(failed), timeout))
                 for m in failed]
        sent_again += again
        last.update({m.metadata.src_node_id: m for m in send_and_receive(grid, again, timeout, clock, kind)})
    return list(last.values()), sent_again


def attempt_again(message: Message, attempt: int, timeout: float) -> Message:
    """The same request for another attempt: its own deadline, and ``attempt`` for the fault draw."""
    records = dict(message.content.items())
    config = ConfigRecord(dict(records["config"]))
    config["attempt"] = attempt
    config["round-deadline"] = time.time() + timeout
    records["config"] = config
    return Message(content=RecordDict(records), message_type=message.metadata.message_type,
                   dst_node_id=message.metadata.dst_node_id)


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
    min_clients
        Fewest answers a round needs; failed clients are counted in ``cost.failures`` and left out.
    retries
        Times a round asks its failed clients again before going on without them (``cost.retries``).
    clock
        The experiment's answer times: each round waits until its clients are clearly late
        (:mod:`fedunlearn.runtime.deadline`), never longer than the timeout ``start`` gets. None: the timeout alone.
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
        min_clients: int = 1,
        retries: int = 0,
        clock: AnswerClock | None = None,
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
        companions = sorted({r.action for r in recorders if getattr(r, "action", None)})
        if companions and action == "default":  # something trains beside the classifier (GENIU's generator)
            if len(companions) > 1:
                raise ValueError(f"recorders ask for different client actions: {companions}")
            self.action = companions[0]
        self.min_clients = min_clients
        self.retries = retries
        self.clock = clock
        self.kept: dict = {}
        self.sent: ArrayRecord | None = None
        self.cost = Cost()
        self._round_start = 0.0
        self._sampled = 0
        self.timeout = 3600.0

    def start(
        self,
        grid: Grid,
        initial_arrays: ArrayRecord,
        num_rounds: int = 3,
        timeout: float = 3600,
        train_config: ConfigRecord | None = None,
        evaluate_config: ConfigRecord | None = None,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
        first_round: int = 1,
        result: Result | None = None,
        on_round_end: Callable[[int, ArrayRecord, Result], None] | None = None,
    ) -> Result:
        """Flower's round loop (train, then central evaluation), resumable.

        Rounds before ``first_round`` are already done: ``initial_arrays`` is their model and ``result``
        their metrics. ``on_round_end(round, arrays, result)`` runs after every round (checkpoints).
        Clients are not asked to evaluate: the central evaluator scores every model.
        """
        train_config = train_config if train_config is not None else ConfigRecord()
        self.timeout = timeout
        result = result if result is not None else Result()
        arrays = initial_arrays
        if evaluate_fn is not None and first_round == 1 and (metrics := evaluate_fn(0, arrays)) is not None:
            result.evaluate_metrics_serverapp[0] = metrics
        for server_round in range(first_round, num_rounds + 1):
            messages = list(self.configure_train(server_round, arrays, train_config, grid))
            replies = self.ask(grid, messages, timeout)
            new_arrays, metrics = self.aggregate_train(server_round, replies)
            if new_arrays is not None:
                arrays = result.arrays = new_arrays
            if metrics is not None:
                result.train_metrics_clientapp[server_round] = metrics
            if evaluate_fn is not None and (evaluation := evaluate_fn(server_round, arrays)) is not None:
                result.evaluate_metrics_serverapp[server_round] = evaluation
            if on_round_end is not None:
                on_round_end(server_round, arrays, result)
        return result

    def ask(self, grid: Grid, messages: list[Message], timeout: float) -> list[Message]:
        """Send a round's messages; clients that fail are asked again, up to ``retries`` times (see
        :func:`ask_with_retries`), and each attempt is counted in the phase's cost."""
        replies, again = ask_with_retries(grid, messages, timeout, self.clock, self.retries)
        self.cost.retries += len(again)
        self.cost.client_rounds += len(again)
        self.cost.bytes_down += sum(content_bytes(m.content) for m in again)
        return replies

    def state(self) -> dict:
        """What a resumed phase needs besides the model (tensors and plain values): see :meth:`load_state`."""
        return {"cost": self.cost.to_dict(), "kept": kept_payload(self.kept)}

    def load_state(self, state: dict) -> None:
        self.cost = Cost(**state["cost"])
        self.kept = kept_from(state["kept"])

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
        message_type = MessageType.TRAIN if self.action == "default" else f"{MessageType.TRAIN}.{self.action}"
        nodes = self.sample(grid, server_round)
        config["server-round"] = server_round
        # The latest the server will wait, as known now (a simulated hang lasts no longer; see faults.py).
        config["round-deadline"] = time.time() + deadline_for(self.clock, message_type, len(nodes), self.timeout)
        content = self.train_content(arrays, config)
        for recorder in self.recorders:
            for name, record in getattr(recorder, "content", dict)().items():
                content[name] = record
        self._sampled = len(nodes)
        self.cost.client_rounds += len(nodes)
        self.cost.bytes_down += content_bytes(content) * len(nodes)
        return [Message(content=content, message_type=message_type, dst_node_id=node) for node in nodes]

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = answered(replies, self._sampled, self.min_clients, f"{self.phase}, round {server_round}")
        self.cost.failures += self._sampled - len(replies)
        self.cost.bytes_up += sum(content_bytes(m.content) for m in replies)
        total_examples = sum(m.content["metrics"][self.weighted_by_key] for m in replies)
        if self.keep_client is not None:
            self.kept = {"total_examples": total_examples}
            for m in replies:
                if m.content["metrics"]["partition-id"] == self.keep_client:
                    self.kept.update(arrays=m.content[self.arrayrecord_key],
                                     examples=m.content["metrics"][self.weighted_by_key])
        self.cost.rounds += 1
        for recorder in self.recorders:  # one that trained something beside the model takes its records back
            recorder.record(server_round, self.sent, replies)
        if total_examples == 0:
            arrays, metrics = None, None  # no client had data to train on: keep the model
        else:
            arrays, metrics = self.aggregate_models(server_round, replies)
        if metrics is not None:
            metrics["round-seconds"] = time.perf_counter() - self._round_start
            metrics["failures"] = self._sampled - len(replies)
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
