"""TRW, server side: federated fine-tuning in which forgotten-class inputs are trained toward the tilted
reweighting target (Ebrahimpour-Boroojeny et al., arXiv 2506.20893). Class requests.

FedAvg for ``unlearn-rounds`` with clients running ``train.trw`` on all their data (retained samples:
cross-entropy; forgotten samples: soft cross-entropy to the target). The algorithm is in
``fedunlearn/algorithms/trw.py``; the client side in ``clients/handlers/trw.py``.
"""

from __future__ import annotations

from fedunlearn.runtime.phase import PhaseResult

from . import register
from .base import UnlearningMethod


@register
class TRW(UnlearningMethod):
    """TRW (Ebrahimpour-Boroojeny et al., 2025): forgotten inputs trained toward a tilted target."""

    name = "trw"
    request_kinds = frozenset({"class"})

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        strategy = session.strategy(self.label, "all", action="trw")
        return session.run_phase(self.label, original.arrays, self.config["unlearn-rounds"], view="all",
                                 strategy=strategy)
