"""The identify query: a node names itself by its node config's partition-id and loads its data."""

import pytest
from fedunlearn.clients.client_app import identify
from flwr.app import ConfigRecord, Context, Message, RecordDict

from fedunlearn.config import validate


@pytest.fixture(autouse=True)
def task_identity():
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0


def _ask(node_config: dict) -> Message:
    config = validate({"num-clients": 3, "partitioner": "iid", "model": "mlp"})
    message = Message(RecordDict({"config": ConfigRecord({**config, "phase": "identify"})}), dst_node_id=7,
                      message_type="query.identify")
    context = Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})
    return identify(message, context)


def test_a_node_answers_with_the_partition_id_of_its_node_config():
    reply = _ask({"partition-id": 2, "num-partitions": 3})
    assert reply.content["metrics"]["partition-id"] == 2


def test_a_node_started_for_another_federation_size_says_so():
    with pytest.raises(ValueError, match="num-partitions = 4 but the experiment has num-clients = 3"):
        _ask({"partition-id": 2, "num-partitions": 4})
    with pytest.raises(ValueError, match="no 'partition-id'"):
        _ask({"num-partitions": 3})
