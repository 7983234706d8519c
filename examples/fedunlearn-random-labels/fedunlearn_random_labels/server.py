"""Random Labels, server side: FedAvg rounds in which clients run ``train.random_labels``."""

from __future__ import annotations

from fedunlearn.strategies.methods.base import UnlearningMethod

from fedunlearn.config import Key
from fedunlearn.runtime.phase import PhaseResult


class RandomLabels(UnlearningMethod):
    """Random Labels: forgotten samples trained toward random wrong labels, retained ones kept (a plugin)."""

    name = "random-labels"
    request_kinds = frozenset({"class", "sample"})
    config_keys = {
        "random-labels-retain": Key(bool, True, "whether clients also train on their retained samples (SalUn's RL "
                                                "does; false: the relabelled forgotten samples alone)"),
    }

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        strategy = session.strategy(self.label, "all", action="random_labels")
        return session.run_phase(self.label, original.arrays, self.config["unlearn-rounds"], view="all",
                                 strategy=strategy)
