"""Projected gradient ascent (Halimi et al., arXiv 2207.05521), server side. Client and sample requests.

1. The server derives the reference model, the average of every client but the target, from the final
   global model and the target's last local model (kept by the original training), and the ball's
   radius: the square root of ``ga-radius`` (a third, the notebook's) times the mean squared distance from
   the reference to 10 random models.
2. The target client (``train.ga``) maximises its loss on its forgotten data from the reference (SGD,
   momentum 0.9, ``ga-learning-rate``, gradients clipped to norm 5, at most ``ga-epochs`` epochs), projected
   back into the ball after every step, until its squared distance to its own last local model exceeds
   ``ga-stop-ratio`` times the reference's (the notebook's early stop, 2.2 where the reference started 0.45
   away, as a ratio: an absolute squared distance is one model's scale).
3. ``unlearn-rounds`` of FedAvg on retained data from the ascended model; a deleted client takes no part.
"""

from __future__ import annotations

import time

from flwr.app import ArrayRecord, Message, RecordDict

from fedunlearn.algorithms.ascent import RANDOM_MODELS, ball_radius, others_average
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

    def reference(self, original: PhaseResult) -> tuple[dict, dict, float]:
        """(reference model state, the target's last local model, ball radius)."""
        global_state = original.arrays.to_torch_state_dict()
        kept = original.kept
        target = kept["arrays"].to_torch_state_dict() if "arrays" in kept else global_state
        reference = (others_average(global_state, target, kept["total_examples"], kept["examples"])
                     if "arrays" in kept else global_state)  # the target missed the last round: nothing to undo
        data = Federation.from_config(self.config).data
        randoms = [build_model(self.config["model"], data.input_shape, data.num_classes,
                               seed=derive_seed(self.config["seed"], self.label, i)) for i in range(RANDOM_MODELS)]
        names = [n for n, _ in randoms[0].named_parameters()]
        radius = ball_radius(reference, [m.state_dict() for m in randoms], names, self.config["ga-radius"])
        return reference, target, radius

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        start = time.perf_counter()
        reference, target_model, radius = self.reference(original)
        target = Federation.from_config(self.config).target_client
        node = next(n for n, c in session.clients.items() if c == target)

        def ask(attempt: int) -> Message:
            config = session.train_config(self.label, "forget", **{"ga-ball-radius": radius, "server-round": 0,
                                                                   "attempt": attempt})
            # The ascent starts from the reference, the ball's centre, as the notebook's does.
            content = RecordDict({"arrays": ArrayRecord(reference), "config": config,
                                  "target": ArrayRecord(target_model)})
            return Message(content=content, message_type="train.ga", dst_node_id=node)

        # Only the target can ascend: it is asked again if it fails.
        answer, failures = session.ask_one(node, ask, f"{self.label}, ascent on client {target}", ASCENT_ATTEMPTS)
        reply, content = answer.content, ask(0).content
        ascent_cost = Cost(rounds=1, client_rounds=1 + failures, bytes_down=content_bytes(content) * (1 + failures),
                           bytes_up=content_bytes(reply), seconds=time.perf_counter() - start, failures=failures)
        session.progress.message(f"{self.label}: client {target} ascended for {reply['metrics']['steps']:.0f} steps "
                                 f"(forget accuracy {reply['metrics']['forget-acc']:.3f}, radius {radius:.3f}, "
                                 f"squared distance to its own model {reply['metrics']['target-distance']:.3f})")
        result = session.run_phase(self.label, reply["arrays"], self.config["unlearn-rounds"], view="retain")
        result.cost = ascent_cost.add(result.cost)
        result.details = {"ascent_steps": int(reply["metrics"]["steps"]), "ball_radius": radius,
                          "target_forget_acc_after_ascent": float(reply["metrics"]["forget-acc"]),
                          "squared_distance_to_target": float(reply["metrics"]["target-distance"]),
                          "stopped_early": bool(reply["metrics"]["stopped"])}
        return result
