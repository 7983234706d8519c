"""Fine-tuning: continue FedAvg from the original model on the retained data only."""

from __future__ import annotations

from fedunlearn.runtime.phase import PhaseResult

from . import register
from .base import UnlearningMethod


@register
class FineTune(UnlearningMethod):
    """Fine-tuning: FedAvg continued from the original model on the retained data for unlearn-rounds."""

    name = "finetune"
    request_kinds = frozenset({"class", "client", "sample", "sequential"})

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        return session.run_phase(self.label, original.arrays, self.config["unlearn-rounds"], view="retain")
