"""AccountedFedAvg on hand-made replies. The grid is a stand-in here (Flower's get_node_ids, push_messages
and pull_messages); the real Flower grid and Ray are exercised by tests/test_end_to_end.py."""

import time
from uuid import uuid4

import numpy as np
import pytest
from fedunlearn.strategies.fedavg import (
    AccountedFedAvg,
    ClientFailure,
    content_bytes,
    payload_bytes,
    poll_interval,
    send_and_receive,
)
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict


@pytest.fixture(autouse=True)
def task_identity():
    """Messages need the process's task identity, which Flower's runtime sets before a ServerApp runs."""
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0


class NodeList:
    def __init__(self, nodes):
        self.nodes = nodes
        self.pending = []

    def get_node_ids(self):
        return list(self.nodes)

    def answer(self, messages):
        return []

    def push_messages(self, messages):
        """As Flower's grids do: give each message an id; the replies are ready at once (see ``answer``)."""
        messages = list(messages)
        for m in messages:
            m.metadata.__dict__["_message_id"] = str(uuid4())
        self.pending += self.answer(messages)
        return [m.metadata.message_id for m in messages]

    def pull_messages(self, message_ids):
        ready = [r for r in self.pending if r.metadata.reply_to_message_id in set(message_ids)]
        self.pending = [r for r in self.pending if r not in ready]
        return ready


def _reply(value, weight, partition_id, node, to=None):
    out = to or Message(content=RecordDict({"arrays": ArrayRecord({"w": Array(np.full(3, value, np.float32))}),
                                            "config": ConfigRecord()}), dst_node_id=node, message_type="train")
    content = RecordDict({"arrays": ArrayRecord({"w": Array(np.full(3, value, np.float32))}),
                          "metrics": MetricRecord({"num-examples": weight, "partition-id": partition_id,
                                                   "train-loss": float(value)})})
    return Message(content=content, reply_to=out)


def test_weighted_average_cost_and_order_independence():
    strategy = AccountedFedAvg(phase="p", seed=0)
    replies = [_reply(1.0, 1, 0, 11), _reply(3.0, 3, 1, 12), _reply(10.0, 0, 2, 13)]
    arrays, metrics = strategy.aggregate_train(1, replies)
    assert np.allclose(arrays["w"].numpy(), 2.5)  # (1*1 + 3*3 + 10*0) / 4
    assert metrics["train-loss"] == pytest.approx(2.5) and "partition-id" not in metrics
    assert strategy.cost.rounds == 1
    assert strategy.cost.bytes_up == 3 * payload_bytes(replies[0].content["arrays"])
    again, _ = AccountedFedAvg(phase="p", seed=0).aggregate_train(1, list(reversed(replies)))
    assert np.array_equal(arrays["w"].numpy(), again["w"].numpy())


def test_configure_train_samples_reproducibly_and_counts_bytes_down():
    grid = NodeList([105, 101, 104, 102, 103, 106, 107, 108, 109, 110])
    arrays = ArrayRecord({"w": Array(np.zeros(1000, np.float32))})
    strategy = AccountedFedAvg(phase="p", seed=7, fraction_train=0.3)
    messages = list(strategy.configure_train(1, arrays, ConfigRecord(), grid))
    assert len(messages) == 3 and strategy.cost.client_rounds == 3
    assert strategy.cost.bytes_down == 3 * payload_bytes(arrays) and payload_bytes(arrays) >= 4000
    same = [m.metadata.dst_node_id for m in AccountedFedAvg(phase="p", seed=7, fraction_train=0.3)
            .configure_train(1, arrays, ConfigRecord(), grid)]
    assert [m.metadata.dst_node_id for m in messages] == same
    assert messages[0].metadata.message_type == "train"
    custom = AccountedFedAvg(phase="p", seed=7, action="fucrt").configure_train(1, arrays, ConfigRecord(), grid)
    assert {m.metadata.message_type for m in custom} == {"train.fucrt"}


def test_failed_clients_are_left_out_counted_and_stop_the_round_only_below_min_clients():
    from flwr.app import Error

    grid = NodeList([11, 12, 13])
    arrays = ArrayRecord({"w": Array(np.zeros(3, np.float32))})
    strategy = AccountedFedAvg(phase="original", seed=0, min_clients=2)
    list(strategy.configure_train(4, arrays, ConfigRecord(), grid))  # 3 clients asked
    good, other = _reply(1.0, 1, 0, 11), _reply(4.0, 2, 1, 12)
    failed = Message(Error(code=0, reason="out of memory"), reply_to=good)
    new, _ = strategy.aggregate_train(4, [failed, other, good])
    assert np.allclose(new["w"].numpy(), 3.0)  # (1*1 + 4*2) / 3: the failed reply is left out
    assert strategy.cost.failures == 1
    list(strategy.configure_train(5, arrays, ConfigRecord(), grid))
    new, _ = strategy.aggregate_train(5, [good, other])  # the third never answered
    assert strategy.cost.failures == 2
    list(strategy.configure_train(6, arrays, ConfigRecord(), grid))
    with pytest.raises(ClientFailure, match=r"original, round 6: 1 of 3 clients answered, fewer than min-clients = 2 "
                                            r"\(1 did not answer in time; errors: out of memory\)"):
        strategy.aggregate_train(6, [good, failed])


class TrainingGrid(NodeList):
    """Answers each training message as a client would: weights + (partition id + 1), weight 1."""

    def __init__(self, nodes):
        super().__init__(nodes)
        self.rounds_sent = []

    def answer(self, messages):
        self.rounds_sent.append(messages[0].content["config"]["server-round"])
        replies = []
        for m in messages:
            pid = self.nodes.index(m.metadata.dst_node_id)
            w = m.content["arrays"]["w"].numpy() * 0.5 + (pid + 1)
            replies.append(_reply(0.0, 1, pid, m.metadata.dst_node_id, to=m))
            replies[-1].content["arrays"] = ArrayRecord({"w": Array(w.astype(np.float32))})
        return replies


def test_a_phase_resumed_after_round_k_ends_where_an_uninterrupted_one_ends():
    arrays = ArrayRecord({"w": Array(np.zeros(2, np.float32))})
    seen = {}
    whole = AccountedFedAvg(phase="p", seed=3, fraction_train=0.5).start(
        TrainingGrid([5, 6, 7, 8]), arrays, num_rounds=5, train_config=ConfigRecord(),
        on_round_end=lambda r, a, res: seen.setdefault(r, (a, dict(res.train_metrics_clientapp))))
    assert sorted(seen) == [1, 2, 3, 4, 5]
    first = AccountedFedAvg(phase="p", seed=3, fraction_train=0.5)
    saved_arrays, _ = seen[2]
    grid = TrainingGrid([5, 6, 7, 8])
    from flwr.serverapp.strategy import Result

    partial = Result()
    partial.train_metrics_clientapp = dict(seen[2][1])
    resumed = first.start(grid, saved_arrays, num_rounds=5, train_config=ConfigRecord(), first_round=3,
                          result=partial)
    assert grid.rounds_sent == [3, 4, 5]  # only the rounds not done before
    assert np.array_equal(resumed.arrays["w"].numpy(), whole.arrays["w"].numpy())
    assert not np.array_equal(whole.arrays["w"].numpy(), saved_arrays["w"].numpy())
    assert sorted(resumed.train_metrics_clientapp) == [1, 2, 3, 4, 5]


class FlakyGrid(TrainingGrid):
    """Node 6 fails its first attempt (an error), node 7 never answers, the others answer."""

    def __init__(self, nodes):
        super().__init__(nodes)
        self.asked = []

    def answer(self, messages):
        from flwr.app import Error

        self.asked.append(sorted((m.metadata.dst_node_id, m.content["config"].get("attempt", 0)) for m in messages))
        good = [m for m in messages if m.metadata.dst_node_id not in (6, 7)
                or (m.metadata.dst_node_id == 6 and m.content["config"].get("attempt", 0) == 1)]
        replies = super().answer(good)
        errors = [Message(Error(code=0, reason="flaky"), reply_to=m) for m in messages
                  if m.metadata.dst_node_id == 6 and m.content["config"].get("attempt", 0) == 0]
        return replies + errors


def test_failed_clients_are_asked_again_before_the_round_goes_on_without_them():
    arrays = ArrayRecord({"w": Array(np.zeros(2, np.float32))})
    grid = FlakyGrid([5, 6, 7, 8])
    strategy = AccountedFedAvg(phase="p", seed=0, retries=1)
    result = strategy.start(grid, arrays, num_rounds=1, timeout=1, train_config=ConfigRecord())
    assert grid.asked == [[(5, 0), (6, 0), (7, 0), (8, 0)], [(6, 1), (7, 1)]]  # the two failed ones, once more
    assert strategy.cost.retries == 2 and strategy.cost.client_rounds == 6 and strategy.cost.failures == 1
    # Nodes 5, 6 (on its retry) and 8 are averaged: 0 * 0.5 + (pid + 1) for pids 0, 1, 3.
    assert np.allclose(result.arrays["w"].numpy(), (1 + 2 + 4) / 3)
    without = AccountedFedAvg(phase="p", seed=0, retries=0)
    grid = FlakyGrid([5, 6, 7, 8])
    without.start(grid, arrays, num_rounds=1, timeout=1, train_config=ConfigRecord())
    assert len(grid.asked) == 1 and without.cost.failures == 2 and without.cost.retries == 0


def test_a_simulation_grid_looks_for_replies_less_often_the_more_messages_are_out(monkeypatch):
    # 5 ms for a round of a few clients; 0.2 ms more per message in flight; never slower than Flower's 0.1 s.
    assert [poll_interval(n) for n in (1, 10, 25, 100, 500, 1000)] == pytest.approx(
        [0.005, 0.005, 0.005, 0.02, 0.1, 0.1])

    class SlowGrid(NodeList):
        """Answers every message on the third look."""
        looks = 0

        def pull_messages(self, message_ids):
            self.looks += 1
            return [_reply(0.0, 1, 0, 1) for _ in range(0)] if self.looks < 3 else super().pull_messages(message_ids)

        def answer(self, messages):
            return [Message(RecordDict({"metrics": MetricRecord({"partition-id": 0})}), reply_to=m) for m in messages]

    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)
    simulation = SlowGrid([1])
    simulation.pull_interval = 0.1  # Flower's simulation grid has one
    messages = [Message(RecordDict({"config": ConfigRecord()}), dst_node_id=1, message_type="train") for _ in range(100)]
    assert len(send_and_receive(simulation, messages, timeout=5.0)) == 100
    assert waits == pytest.approx([0.02, 0.02])  # two looks found nothing: 100 messages out, 20 ms each
    waits.clear()
    deployment = SlowGrid([1])  # no pull_interval: one look every half second
    assert len(send_and_receive(deployment, messages[:1], timeout=5.0)) == 1 and waits == pytest.approx([0.5, 0.5])


def test_a_round_stops_waiting_once_its_clients_are_clearly_late_and_a_hang_is_no_answer():
    from flwr.app import Error

    from fedunlearn.runtime.deadline import AnswerClock, DeadlinePolicy

    class OneHangs(NodeList):
        """Node 4 answers with a simulated hang (no answer, to the server), node 3 with an error."""

        def answer(self, messages):
            return [Message(Error(0, "client 4: injected fault (hang) in original round 2"), reply_to=m)
                    if m.metadata.dst_node_id == 4 else Message(Error(0, "boom"), reply_to=m)
                    if m.metadata.dst_node_id == 3 else
                    Message(RecordDict({"metrics": MetricRecord({"partition-id": 0})}), reply_to=m) for m in messages]

    messages = [Message(RecordDict({"config": ConfigRecord()}), dst_node_id=n, message_type="train") for n in range(5)]
    clock = AnswerClock(DeadlinePolicy(hard_cap=30.0, factor=3.0, floor=0.3))
    clock.record("train", 5, [0.01])  # answers took 10 ms: the floor (0.3 s) is the deadline
    start = time.monotonic()
    replies = send_and_receive(OneHangs(list(range(5))), messages, timeout=30.0, clock=clock)
    assert 0.3 <= time.monotonic() - start < 3.0  # not the 30 s hard cap
    assert len(replies) == 4 and sum(m.has_error() for m in replies) == 1  # the hang is not among them
    assert clock.slowest["train"][1] == 5


def test_a_one_off_round_asks_its_failed_clients_again_and_counts_the_retries_without_trainings():
    # FUCRT's selection and SalUn's saliency go through FederatedSession.exchange: node 6 answers on its
    # retry, node 7 never does; the answers come back in client order, node 7 is the one failure.
    from fedunlearn.strategies.session import FederatedSession

    from fedunlearn import config as cfg
    from fedunlearn.runtime.phase import Cost

    config = cfg.validate({"unlearn-methods": "finetune", "round-retries": 1, "round-timeout": 1.0})
    grid = FlakyGrid([5, 6, 7, 8])
    session = FederatedSession(grid, config, progress=None, clients={5: 0, 6: 1, 7: 2, 8: 3})
    content = RecordDict({"arrays": ArrayRecord({"w": Array(np.zeros(2, np.float32))}),
                          "config": ConfigRecord({"server-round": 0})})
    messages = [Message(content=content, message_type="query.x", dst_node_id=n) for n in grid.nodes]
    cost = Cost(rounds=1)
    replies = session.exchange(messages, "a query", required=1, cost=cost)
    assert grid.asked == [[(5, 0), (6, 0), (7, 0), (8, 0)], [(6, 1), (7, 1)]]
    assert [r.metadata.src_node_id for r in replies] == [5, 6, 8]
    assert cost.retries == 2 and cost.client_rounds == 0 and cost.bytes_down == 2 * content_bytes(content)
    assert len(session.exchange(messages, "a query", required=1, retries=0)) == 2  # no retry: 6 and 7 missing


def test_a_named_kind_keeps_its_own_answer_times_on_the_clock():
    """One client's ascent lasts as long as its variant's settings make it: ask_one times each (method, variant,
    client) apart, so a fast variant's answer does not set a short deadline for a slow one."""
    from fedunlearn.runtime.deadline import AnswerClock, DeadlinePolicy

    class Answering(NodeList):
        def answer(self, messages):
            return [Message(RecordDict({"metrics": MetricRecord({"partition-id": 0})}), reply_to=m) for m in messages]

    clock = AnswerClock(DeadlinePolicy(hard_cap=600.0, factor=2.0, floor=0.5))
    message = Message(RecordDict({"config": ConfigRecord()}), dst_node_id=1, message_type="train.ascent")
    assert len(send_and_receive(Answering([1]), [message], 5.0, clock, kind="train.ascent (variant a)")) == 1
    assert set(clock.slowest) == {"train.ascent (variant a)"}  # not recorded under the message type
    assert clock.deadline("train.ascent (variant b)", 1) == 600.0  # another variant: not seen yet, the hard cap
