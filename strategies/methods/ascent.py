"""Projected gradient ascent (Halimi et al., arXiv 2207.05521), server side. Client and sample requests.

1. The server derives the reference model, the average of every client but the target, from the final
   global model and the target's last local model (kept by the original training), and the ball's
   radius: ``ga-radius`` times the reference's distance to a random model, as Halimi et al. set it.
2. The target client (``train.ga``) maximises its loss on its forgotten data from the global model,
   projected back into the ball after every step, until its accuracy there falls below ``ga-stop-acc``.
3. ``unlearn-rounds`` of FedAvg on retained data from the ascended model; a deleted client takes no part.
"""

from __future__ import annotations

import time

from flwr.app import ArrayRecord, Message, RecordDict

from fedunlearn.algorithms.ascent import distance, others_average
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed
from fedunlearn.runtime.phase import Cost, PhaseResult

from ..fedavg import content_bytes
from . import register
from .base import UnlearningMethod

ASCENT_ATTEMPTS = 3  # asks of the target client before the run stops


@register
class GradientAscent(UnlearningMethod):
    """Projected gradient ascent (Halimi et al., 2022): the target ascends its loss in a ball, then FedAvg."""

    name = "gradient-ascent"
    request_kinds = frozenset({"client", "sample"})
    needs_one_target = True

    def reference(self, original: PhaseResult) -> tuple[dict, float]:
        """(reference model state, ball radius)."""
        global_state = original.arrays.to_torch_state_dict()
        kept = original.kept
        reference = (others_average(global_state, kept["arrays"].to_torch_state_dict(), kept["total_examples"],
                                    kept["examples"])
                     if "arrays" in kept else global_state)  # the target missed the last round: nothing to undo
        data = Federation.from_config(self.config).data
        random_model = build_model(self.config["model"], data.input_shape, data.num_classes,
                                   seed=derive_seed(self.config["seed"], self.label))
        names = [n for n, _ in random_model.named_parameters()]
        radius = self.config["ga-radius"] * distance(reference, random_model.state_dict(), names)
        return reference, radius

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        start = time.perf_counter()
        reference, radius = self.reference(original)
        target = Federation.from_config(self.config).target_client
        node = next(n for n, c in session.clients.items() if c == target)

        def ask(attempt: int) -> Message:
            config = session.train_config(self.label, "forget", **{"ga-ball-radius": radius, "server-round": 0,
                                                                   "attempt": attempt})
            content = RecordDict({"arrays": original.arrays, "config": config, "reference": ArrayRecord(reference)})
            return Message(content=content, message_type="train.ga", dst_node_id=node)

        # Only the target can ascend: it is asked again if it fails.
        answer, failures = session.ask_one(node, ask, f"{self.label}, ascent on client {target}", ASCENT_ATTEMPTS)
        reply, content = answer.content, ask(0).content
        ascent_cost = Cost(rounds=1, client_rounds=1 + failures, bytes_down=content_bytes(content) * (1 + failures),
                           bytes_up=content_bytes(reply), seconds=time.perf_counter() - start, failures=failures)
        session.progress.message(f"{self.label}: client {target} ascended for {reply['metrics']['steps']:.0f} steps "
                                 f"(forget accuracy {reply['metrics']['forget-acc']:.3f}, radius {radius:.3f})")
        result = session.run_phase(self.label, reply["arrays"], self.config["unlearn-rounds"], view="retain")
        result.cost = ascent_cost.add(result.cost)
        result.details = {"ascent_steps": int(reply["metrics"]["steps"]), "ball_radius": radius,
                          "target_forget_acc_after_ascent": float(reply["metrics"]["forget-acc"])}
        return result
