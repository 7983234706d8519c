"""The central evaluator: accuracies of a model on forgotten, retained and test data, and how far
each number is from the reference model retrained without the forgotten data.

The scoring functions are pure (arrays in, numbers out); :class:`Evaluator` binds them to a
:class:`~fedunlearn.federation.Federation` and a model architecture.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .cost import Cost
from .federation import Federation
from .models import build_model
from .training import predict

ACCURACY_KEYS = ("forget_acc", "retain_acc", "test_acc", "test_forget_acc", "test_retain_acc")
AVG_GAP_KEYS = ("forget_acc", "retain_acc", "test_acc")
SPEEDUP_KEYS = ("client_rounds", "seconds")


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float | None:
    """Share of ``predictions`` equal to ``labels``; None when there is nothing to score."""
    if len(labels) == 0:
        return None
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> list[float | None]:
    """Accuracy on the samples of each class (None for a class with no sample)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return [accuracy(predictions[labels == c], labels[labels == c]) for c in range(num_classes)]


def score(
    forget: tuple[np.ndarray, np.ndarray],
    retain: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    forget_class: int | None,
) -> dict[str, Any]:
    """Metrics from (predictions, labels) pairs of the forgotten, retained and test samples.

    ``test_forget_acc`` / ``test_retain_acc`` are the test accuracy on the forgotten class and on the
    other classes; they are None unless the request is a class request.
    """
    test_pred, test_labels = test
    metrics: dict[str, Any] = {
        "forget_acc": accuracy(*forget),
        "retain_acc": accuracy(*retain),
        "test_acc": accuracy(*test),
        "test_forget_acc": None,
        "test_retain_acc": None,
        "per_class_acc": per_class_accuracy(test_pred, test_labels, num_classes),
    }
    if forget_class is not None:
        is_forget = test_labels == forget_class
        metrics["test_forget_acc"] = accuracy(test_pred[is_forget], test_labels[is_forget])
        metrics["test_retain_acc"] = accuracy(test_pred[~is_forget], test_labels[~is_forget])
    return metrics


def gaps(metrics: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, float | None]:
    """metric - reference metric for every accuracy (None where either is missing)."""
    return {
        k: None if metrics.get(k) is None or reference.get(k) is None else metrics[k] - reference[k]
        for k in ACCURACY_KEYS
    }


def average_gap(gap: Mapping[str, float | None], keys: tuple[str, ...] = AVG_GAP_KEYS) -> float:
    """Mean absolute gap over ``keys`` (NoT's Avg Gap); keys without a value are skipped."""
    values = [abs(gap[k]) for k in keys if gap.get(k) is not None]
    return float(np.mean(values)) if values else 0.0


def speedups(cost: Cost, reference: Cost) -> dict[str, float | None]:
    """reference cost / method cost for client rounds and seconds (None when the method cost 0)."""
    return {
        k: getattr(reference, k) / getattr(cost, k) if getattr(cost, k) > 0 else None for k in SPEEDUP_KEYS
    }


class Evaluator:
    """Scores global models on the federation's forgotten, retained and test samples."""

    def __init__(self, federation: Federation, model_name: str) -> None:
        self.federation = federation
        self.model_name = model_name
        data = federation.data
        self.sets = {
            "forget": federation.union_indices("forget"),
            "retain": federation.union_indices("retain"),
        }
        self.x = {name: data.x_train[idx] for name, idx in self.sets.items()}
        self.y = {name: data.y_train[idx] for name, idx in self.sets.items()}
        self.x["test"], self.y["test"] = data.x_test, data.y_test

    def model_from(self, arrays):
        """A model of the experiment's architecture holding ``arrays`` (a Flower ArrayRecord)."""
        data = self.federation.data
        model = build_model(self.model_name, data.input_shape, data.num_classes)
        model.load_state_dict(arrays.to_torch_state_dict())
        return model

    def outputs(self, arrays) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(probabilities, representations) of the model on each evaluation set."""
        model = self.model_from(arrays)
        return {name: predict(model, x) for name, x in self.x.items()}

    def evaluate(self, arrays) -> dict[str, Any]:
        outputs = self.outputs(arrays)
        pairs = {name: (probs.argmax(axis=1), self.y[name]) for name, (probs, _) in outputs.items()}
        return score(
            pairs["forget"], pairs["retain"], pairs["test"],
            self.federation.data.num_classes, self.federation.request.forget_class,
        )
