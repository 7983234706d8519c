"""SalUn (Fan et al., ICLR 2024), server side: saliency-masked random labelling. Class, client and sample
requests.

1. Saliency round (``query.salun_gradient``, no training): every client returns the sum of the gradient
   of the negated cross-entropy over its forgotten samples at the original model (zero without any); the
   sums add up to the gradient over all forgotten data, and the server marks the top ``salun-ratio`` share
   of weights by its magnitude as salient: the mask SalUn computes centrally.
2. ``unlearn-rounds`` of FedAvg in which clients run ``train.salun`` on all their data: forgotten samples
   toward uniformly random labels, retained samples toward their own, every update restricted to the
   salient weights (the mask travels with the model). Under a client request the deleted client takes part:
   it alone holds the forgotten data.

The algorithm is in ``fedunlearn/algorithms/salun.py``; the client side in ``clients/handlers/salun.py``.
"""

from __future__ import annotations

import time

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

from fedunlearn.algorithms.salun import saliency_mask
from fedunlearn.runtime.phase import Cost, PhaseResult

from ..fedavg import AccountedFedAvg, content_bytes
from . import register
from .base import UnlearningMethod

GRADIENT_MESSAGE = "query.salun_gradient"


class SalunStrategy(AccountedFedAvg):
    """FedAvg whose training messages also carry the saliency mask."""

    def __init__(self, mask: dict[str, np.ndarray], **kwargs) -> None:
        super().__init__(action="salun", **kwargs)
        self.mask = ArrayRecord({name: Array(np.ascontiguousarray(m, dtype=np.uint8)) for name, m in mask.items()})

    def train_content(self, arrays: ArrayRecord, config: ConfigRecord) -> RecordDict:
        return RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config, "mask": self.mask})


@register
class SalUn(UnlearningMethod):
    """SalUn (Fan et al., 2024): random labels for forgotten samples, updates only on salient weights."""

    name = "salun"
    request_kinds = frozenset({"class", "client", "sample"})

    def saliency(self, session, original: PhaseResult) -> tuple[dict[str, np.ndarray], Cost]:
        """The saliency round: the mask and what it cost."""
        start = time.perf_counter()
        nodes = sorted(session.grid.get_node_ids())
        content = RecordDict({"arrays": original.arrays, "config": session.train_config(self.label, "forget")})
        messages = [Message(content=content, message_type=GRADIENT_MESSAGE, dst_node_id=n) for n in nodes]
        cost = Cost(rounds=1, bytes_down=content_bytes(content) * len(nodes))
        replies = session.exchange(messages, f"{self.label}, saliency", required=self.config["min-clients"],
                                   cost=cost)
        names = list(replies[0].content["gradient"].keys())
        gradient = {n: sum(r.content["gradient"][n].numpy().astype(np.float64) for r in replies) for n in names}
        cost.bytes_up = sum(content_bytes(r.content) for r in replies)
        cost.seconds, cost.failures = time.perf_counter() - start, len(messages) - len(replies)
        return saliency_mask(gradient, self.config["salun-ratio"]), cost

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        mask, saliency_cost = self.saliency(session, original)
        strategy = SalunStrategy(mask, **session.strategy_kwargs(self.label, "all"))
        result = session.run_phase(self.label, original.arrays, self.config["unlearn-rounds"], view="all",
                                   strategy=strategy)
        result.cost = saliency_cost.add(result.cost)
        total = sum(m.size for m in mask.values())
        result.details = {"salient_share": float(sum(m.sum() for m in mask.values()) / total),
                          "salient_share_by_parameter": {n: round(float(m.mean()), 4) for n, m in mask.items()}}
        return result
