"""Head tilt, server side: federated fine-tuning in which forgotten-class inputs are trained toward a tilted
target. Class requests.

The project's own construction, after the idea of TRW/TREW (Ebrahimpour-Boroojeny et al., arXiv 2506.20893):
the paper's similarity estimate and loss could not be read here, so this is not the paper's method
(docs/methods/head-tilt.md) and it does not test the paper's claim.

FedAvg for ``unlearn-rounds`` with clients running ``train.tilt`` on all their data (retained samples:
cross-entropy; forgotten samples: soft cross-entropy to the target). The algorithm is in
``fedunlearn/algorithms/head_tilt.py``; the client side in ``clients/handlers/head_tilt.py``.
"""

from __future__ import annotations

from fedunlearn.runtime.phase import PhaseResult

from . import register
from .base import UnlearningMethod


@register
class HeadTilt(UnlearningMethod):
    """Forgotten inputs trained toward the model's own belief tilted by the head's class cosine similarity."""

    name = "head-tilt"
    request_kinds = frozenset({"class"})

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        strategy = session.strategy(self.label, "all", action="tilt")
        return session.run_phase(self.label, original.arrays, self.config["unlearn-rounds"], view="all",
                                 strategy=strategy)
