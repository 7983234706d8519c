"""L2UL (Cha et al., AAAI 2024, arXiv 2301.11578), server side: instance-wise unlearning. Sample requests.

The client that holds the forgotten samples runs L2UL on them (``train.l2ul``): adversarial examples of the
original model, weight importance, and penalised SGD until its accuracy on the forgotten samples is at most
``l2ul-stop-acc``. It needs nothing but the model and the forgotten samples, so the server adopts the
client's model as the new global model: one client training, no other client involved, and no repair
rounds (``unlearn-rounds`` does not apply). The algorithm is in ``fedunlearn/algorithms/l2ul.py``.
"""

from __future__ import annotations

import time

from flwr.app import Message, RecordDict

from fedunlearn.data.federation import Federation
from fedunlearn.runtime.phase import Cost, PhaseResult

from ..fedavg import content_bytes
from . import register
from .base import UnlearningMethod


@register
class L2UL(UnlearningMethod):
    """L2UL (Cha et al., 2024): the samples' holder unlearns them with adversarial examples and importance."""

    name = "l2ul"
    request_kinds = frozenset({"sample"})
    needs_one_target = True

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        start = time.perf_counter()
        target = Federation.from_config(self.config).target_client
        node = next(n for n, c in session.clients.items() if c == target)

        def ask(attempt: int) -> Message:
            config = session.train_config(self.label, "forget", **{"server-round": 0, "attempt": attempt})
            return Message(RecordDict({"arrays": original.arrays, "config": config}), message_type="train.l2ul",
                           dst_node_id=node)

        reply, failures = session.ask_one(node, ask, f"{self.label}, client {target}")
        metrics = reply.content["metrics"]
        session.progress.message(f"{self.label}: client {target} unlearned in {metrics['steps']:.0f} steps with "
                                 f"{metrics['adversarial-examples']:.0f} adversarial examples (forget accuracy "
                                 f"{metrics['forget-acc']:.3f})")
        arrays = reply.content["arrays"]
        cost = Cost(rounds=1, client_rounds=1 + failures, bytes_down=content_bytes(ask(0).content) * (1 + failures),
                    bytes_up=content_bytes(reply.content), seconds=time.perf_counter() - start, failures=failures)
        return PhaseResult(arrays=arrays, cost=cost, history=session.before_and_after(original.arrays, arrays),
                           details={"client": int(target), "steps": int(metrics["steps"]),
                                    "adversarial_examples": int(metrics["adversarial-examples"]),
                                    "target_forget_acc": float(metrics["forget-acc"])})
