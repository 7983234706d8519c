"""WF-Net (Poppi et al., arXiv 2304.02049), server side: multi-class unlearning by weight filtering. Class
requests.

1. Filter training, paid once (a *one-off* cost, reported apart): ``wfnet-rounds`` FedAvg rounds in which
   clients train the filters of the frozen global model on all their data (``train.wfnet``) and the server
   averages the filters (by sample count). Only the filters travel back.
2. The request: the server publishes the original weights times the filters' row of the forgotten class.
   No client takes part; any later class request would be served the same way, from the same filters.

The algorithm is in ``fedunlearn/algorithms/wfnet.py``; the client side in ``clients/handlers/wfnet.py``.
"""

from __future__ import annotations

import time

from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

from fedunlearn.algorithms.wfnet import apply_filter, initial_filters
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import build_model
from fedunlearn.runtime.phase import Cost, PhaseResult

from ..fedavg import AccountedFedAvg, payload_bytes
from . import register
from .base import UnlearningMethod


class FilterStrategy(AccountedFedAvg):
    """FedAvg of the filters ("arrays"); the frozen model travels beside them, to the clients only."""

    def __init__(self, model: ArrayRecord, **kwargs) -> None:
        super().__init__(action="wfnet", **kwargs)
        self.model = model

    def train_content(self, arrays: ArrayRecord, config: ConfigRecord) -> RecordDict:
        return RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config, "model": self.model})


@register
class WFNet(UnlearningMethod):
    """WF-Net (Poppi et al., 2024): per-class filters on a frozen model, trained once; a request applies a row."""

    name = "wf-net"
    request_kinds = frozenset({"class"})

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        data = Federation.from_config(self.config).data
        model = build_model(self.config["model"], data.input_shape, data.num_classes)
        filters = ArrayRecord({k: Array(v) for k, v in initial_filters(model, data.num_classes, self.config["wfnet-filter-head"]).items()})
        strategy = FilterStrategy(original.arrays, **session.strategy_kwargs(f"{self.label}, filters", "all"))
        evaluator, session.round_evaluator = session.round_evaluator, None  # the filters are no model to score
        try:
            trained = session.run_phase(f"{self.label}, filters", filters, self.config["wfnet-rounds"], view="all",
                                        strategy=strategy)
        finally:
            session.round_evaluator = evaluator
        start = time.perf_counter()
        trained_filters = {name: array.numpy() for name, array in trained.arrays.items()}
        state = apply_filter(original.arrays.to_torch_state_dict(), trained_filters, session.request.forget_class)
        arrays = ArrayRecord({k: v.contiguous() for k, v in state.items()})
        cost = Cost(seconds=time.perf_counter() - start)
        kept = sum(float((a[session.request.forget_class] > 0.5).mean()) for a in trained_filters.values())
        return PhaseResult(arrays=arrays, cost=cost, history=session.before_and_after(original.arrays, arrays),
                           one_off=trained.cost, details={
                               "filter_bytes": payload_bytes(trained.arrays),
                               "forget_row_channels_kept": round(kept / len(trained_filters), 4),
                               "filter_rounds": trained.history})
