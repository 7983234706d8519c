"""GENIU (Zhang et al., arXiv 2406.07885), server side: class unlearning from generated proxies. Class
requests (the paper's case: the majority class of imbalanced data).

1. Generator training, paid once (a *one-off* cost, reported apart): ``geniu-rounds`` rounds in which
   clients train the proxy generator (``train.geniu``): each client picks, for every class it holds, its
   sample on which the received classifier is least sure (highest output entropy) and trains the generator
   to turn that class's prompt into it. The server averages the decoder by sample count and each class's
   prompt by that class's count.
2. The request, served by the server alone: one mini-batch of every class's proxy, ``geniu-tuning-steps``
   steps of cross-entropy on the retained classes' proxies and 1 / cross-entropy on the forgotten class's.
   0 client trainings, 0 bytes.

The algorithm is in ``fedunlearn/algorithms/geniu.py``; the client side in ``clients/handlers/geniu.py``.
"""

from __future__ import annotations

import time

from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

from fedunlearn.algorithms.geniu import average_generators, build_generator, in_batch_tuning, proxies
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed
from fedunlearn.runtime.phase import Cost, PhaseResult

from ..fedavg import AccountedFedAvg, aggregate_train_metrics
from . import register
from .base import UnlearningMethod


class GeneratorStrategy(AccountedFedAvg):
    """Rounds of generator training: the classifier travels to the clients beside the generator ("arrays");
    the generator comes back with the client's class counts and is averaged by them."""

    def __init__(self, model: ArrayRecord, **kwargs) -> None:
        super().__init__(action="geniu", **kwargs)
        self.model = model

    def train_content(self, arrays: ArrayRecord, config: ConfigRecord) -> RecordDict:
        return RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config, "model": self.model})

    def aggregate_models(self, server_round, replies):
        states = [{k: v.numpy() for k, v in m.content[self.arrayrecord_key].items()} for m in replies]
        averaged = average_generators(states, [m.content["counts"]["counts"].numpy() for m in replies],
                                      [int(m.content["metrics"]["num-examples"]) for m in replies])
        arrays = ArrayRecord({k: Array(v) for k, v in averaged.items()})
        return arrays, aggregate_train_metrics([m.content for m in replies], self.weighted_by_key)


@register
class Geniu(UnlearningMethod):
    """GENIU (Zhang et al., 2024): a generator of class proxies trained once; the server unlearns on proxies."""

    name = "geniu"
    request_kinds = frozenset({"class"})

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        cfg = self.config
        data = Federation.from_config(cfg).data
        generator = build_generator(data.num_classes, data.input_shape, derive_seed(cfg["seed"], self.label))
        initial = ArrayRecord({k: v.detach().clone() for k, v in generator.state_dict().items()})
        phase = f"{self.label}, generator"
        strategy = GeneratorStrategy(original.arrays, **session.strategy_kwargs(phase, "all"))
        evaluator, session.round_evaluator = session.round_evaluator, None  # the generator is no model to score
        try:
            trained = session.run_phase(phase, initial, cfg["geniu-rounds"], view="all", strategy=strategy)
        finally:
            session.round_evaluator = evaluator
        start = time.perf_counter()
        generator.load_state_dict(trained.arrays.to_torch_state_dict())
        images, labels = proxies(generator, data.num_classes)
        model = build_model(cfg["model"], data.input_shape, data.num_classes)
        model.load_state_dict(original.arrays.to_torch_state_dict())
        losses = in_batch_tuning(model, images, labels, session.request.forget_class, cfg["geniu-tuning-steps"],
                                 cfg["geniu-learning-rate"])
        arrays = ArrayRecord(model.state_dict())
        return PhaseResult(arrays=arrays, cost=Cost(seconds=time.perf_counter() - start),
                           history=session.before_and_after(original.arrays, arrays), one_off=trained.cost,
                           details={"tuning_losses": [round(x, 4) for x in losses],
                                    "generator_rounds": trained.history})
