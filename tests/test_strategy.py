"""AccountedFedAvg on hand-made replies. The grid is a stand-in here (only get_node_ids is used);
the real Flower grid and Ray are exercised by tests/test_end_to_end.py."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

from strategies.fedavg import AccountedFedAvg, ClientFailure, payload_bytes


@pytest.fixture(autouse=True)
def task_identity():
    """Messages need the process's task identity, which Flower's runtime sets before a ServerApp runs."""
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0


class NodeList:
    def __init__(self, nodes):
        self.nodes = nodes

    def get_node_ids(self):
        return list(self.nodes)


def _reply(value, weight, partition_id, node):
    out = Message(content=RecordDict({"arrays": ArrayRecord({"w": Array(np.full(3, value, np.float32))}),
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


def test_a_client_error_stops_the_phase_with_its_reason():
    from flwr.app import Error

    strategy = AccountedFedAvg(phase="original", seed=0)
    good = _reply(1.0, 1, 0, 11)
    failed = Message(Error(code=0, reason="out of memory"), reply_to=good)
    with pytest.raises(ClientFailure, match="original, round 4.*out of memory"):
        strategy.aggregate_train(4, [good, failed])
