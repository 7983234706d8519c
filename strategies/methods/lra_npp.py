"""LRA-NPP (Chang et al., arXiv 2410.23693), server side: zero-shot class unlearning. Class requests.

The server holds the test split, which no client trained on: it takes ``lra-npp-samples`` test images of
the forgotten class (a seeded draw, as the authors take a random subset of theirs), finds the neurons most
relevant to them (``fedunlearn/algorithms/lra_npp.py``) and cuts the most frequent ones off the forgotten
class: k and N are shares of the representation's width (``lra-npp-top-k-share``, ``lra-npp-neurons-share``;
the authors' MNIST counts on their 512-wide layer). No client takes part: 0 client trainings, 0 bytes. The same images stay in the test set
the evaluator scores (a handful of the class's test images; docs/methods/lra-npp.md).
"""

from __future__ import annotations

import time

import numpy as np
from flwr.app import ArrayRecord

from fedunlearn.algorithms.lra_npp import counts_for_width, feature_layer, frequent_neurons, head_relevance, perturb
from fedunlearn.data.datasets import test_half_indices
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed, predict
from fedunlearn.runtime.device import resolve
from fedunlearn.runtime.phase import Cost, PhaseResult

from . import register
from .base import UnlearningMethod


@register
class LraNpp(UnlearningMethod):
    """LRA-NPP (Chang et al., 2024): the forgotten class's most relevant neurons cut off, no training."""

    name = "lra-npp"
    request_kinds = frozenset({"class"})

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        start = time.perf_counter()
        cfg = self.config
        data = Federation.from_config(cfg).data
        forget_class = session.request.forget_class
        model = build_model(cfg["model"], data.input_shape, data.num_classes)
        model.load_state_dict(original.arrays.to_torch_state_dict())
        # Test images, from the validation half only when the test split is halved (the reported half stays unseen).
        allowed = test_half_indices(data.y_test, "validation" if cfg["test-half"] else "")
        candidates = allowed[data.y_test[allowed] == forget_class]
        rng = np.random.default_rng(derive_seed(cfg["seed"], self.label))
        chosen = np.sort(rng.choice(candidates, min(cfg["lra-npp-samples"], len(candidates)), replace=False))
        probs, features = predict(model, data.x_test[chosen], device=resolve(cfg["device"]))
        relevance = head_relevance(features, model.head.weight.detach().numpy(), probs.argmax(axis=1))
        top_k, count = counts_for_width(model.feature_dim, cfg["lra-npp-top-k-share"], cfg["lra-npp-neurons-share"])
        neurons = frequent_neurons(relevance, top_k)[:count]
        layer = feature_layer(model)
        state = perturb(model.state_dict(), neurons, forget_class, f"{layer}.weight" if layer else None)
        arrays = ArrayRecord({k: v.contiguous() for k, v in state.items()})
        seconds = time.perf_counter() - start
        return PhaseResult(arrays=arrays, cost=Cost(seconds=seconds), history=session.before_and_after(original.arrays, arrays),
                           details={"neurons": [int(n) for n in neurons], "feature_layer": layer,
                                    "analysis_images": [int(i) for i in chosen],
                                    "width": int(model.feature_dim), "top_k": top_k})
