"""Profile: what one client's training message costs in our code, without Flower or Ray around it.

Builds the scale benchmark's largest federation (1,000 clients, synthetic data, MLP), then answers 50
training messages in-process with the ClientApp's handler, prints the mean time per message and the
cProfile top entries (cumulative). experiments/results/scale.md quotes it.

    python experiments/profile_client.py
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedunlearn.clients.client_app import local_training  # noqa: E402
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from fedunlearn.config import validate  # noqa: E402
from fedunlearn.data.federation import Federation  # noqa: E402
from fedunlearn.learning.models import build_model  # noqa: E402

MESSAGES = 50


def main() -> None:
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0  # what Flower's runtime sets
    config = validate({"dataset": "synthetic", "synthetic-samples": 200_000, "model": "mlp", "num-clients": 1000,
                       "partitioner": "iid", "local-epochs": 1, "forget-class": 3})
    data = Federation.from_config(config).data
    arrays = ArrayRecord(build_model("mlp", data.input_shape, data.num_classes).state_dict())
    train_config = ConfigRecord({**config, "phase": "original", "view": "all", "server-round": 1})

    def one(client: int) -> Message:
        message = Message(RecordDict({"arrays": arrays, "config": train_config}), dst_node_id=1, message_type="train")
        context = Context(run_id=1, node_id=1, node_config={"partition-id": client}, state=RecordDict(), run_config={})
        return local_training(message, context)

    one(0)  # warm-up: torch's first-call costs
    start = time.perf_counter()
    for client in range(MESSAGES):
        one(client)
    print(f"{(time.perf_counter() - start) / MESSAGES * 1000:.1f} ms per message ({MESSAGES} messages, in-process)")
    profile = cProfile.Profile()
    profile.runcall(lambda: [one(c) for c in range(MESSAGES)])
    pstats.Stats(profile).sort_stats("cumulative").print_stats(12)


if __name__ == "__main__":
    main()
