"""The central evaluator: how a model does on forgotten, retained and test data, what it leaks, and
how far it is from the reference model retrained without the forgotten data.

The scoring functions are pure (arrays in, numbers out); :class:`Evaluator` binds them to a
:class:`~fedunlearn.data.federation.Federation` and a model architecture. Definitions: ``docs/evaluator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from fedunlearn.data.backdoor import add_trigger, attack_success_rate
from fedunlearn.data.federation import Federation
from fedunlearn.evaluation.membership import (
    SALUN_HEADLINE,
    nearest_neighbour_mia,
    neighbour_classes,
    output_features,
    population_mia,
    salun_mia_efficacy,
)
from fedunlearn.evaluation.similarity import linear_cka, mean_kl
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed, predict
from fedunlearn.runtime.device import resolve
from fedunlearn.runtime.phase import Cost

ACCURACY_KEYS = ("forget_acc", "retain_acc", "test_acc", "test_forget_acc", "test_retain_acc")
PRIVACY_KEYS = ("mia_efficacy", "mia_joint_members", "mia_auc", "neighbour_mia", "backdoor_asr")
GAP_KEYS = ACCURACY_KEYS + PRIVACY_KEYS
# NoT's Avg Gap over the four numbers the field's tables report, its MIA term SalUn's MIA-efficacy.
AVG_GAP_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")
AVG_GAP_TEXT = "mean |gap| over forget_acc, retain_acc, test_acc and mia_efficacy (SalUn's MIA-efficacy)"
# mia_auc describes the attack, not a target; the joint attack's share is reported, not judged.
VERDICT_KEYS = ACCURACY_KEYS + ("mia_efficacy", "neighbour_mia", "backdoor_asr")
SPEEDUP_KEYS = ("client_rounds", "seconds")
MIA_SIGNAL_AUC = 0.6  # below this held-out AUC the membership attack has no usable signal on the model


def attack_has_signal(mia_auc: float | None) -> bool | None:
    """Whether a model's outputs carry membership signal (``mia_auc`` >= :data:`MIA_SIGNAL_AUC`); None if
    the attack could not be run. Without signal, the thresholded attack shares are close to arbitrary."""
    return None if mia_auc is None else mia_auc >= MIA_SIGNAL_AUC


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
    forget_classes: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Accuracies from (predictions, labels) pairs of the forgotten, retained and test samples.

    ``test_forget_acc`` / ``test_retain_acc`` are the test accuracy on the forgotten classes and on the
    other classes; they are None unless the request is a class (or sequential) request.
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
    if forget_classes:
        is_forget = np.isin(test_labels, forget_classes)
        metrics["test_forget_acc"] = accuracy(test_pred[is_forget], test_labels[is_forget])
        metrics["test_retain_acc"] = accuracy(test_pred[~is_forget], test_labels[~is_forget])
    return metrics


def gaps(metrics: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, float | None]:
    """metric - reference metric for every gap key (None where either is missing)."""
    return {
        k: None if metrics.get(k) is None or reference.get(k) is None else metrics[k] - reference[k]
        for k in GAP_KEYS
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


@dataclass
class ModelOutputs:
    """A model's class probabilities and representations on each evaluation set; ``invalid`` marks the
    samples whose outputs were not finite (a diverged model: see :func:`finite_outputs`)."""

    probs: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    invalid: dict[str, np.ndarray] = field(default_factory=dict)

    def predictions(self, name: str) -> np.ndarray:
        """The predicted class of each sample of set ``name``; -1 (no class) where the output was not finite."""
        pred = self.probs[name].argmax(axis=1)
        if name in self.invalid:
            pred[self.invalid[name]] = -1
        return pred

    def nonfinite(self) -> int:
        """Samples, over every set, on which the model's outputs were not finite (0 for a healthy model)."""
        return int(sum(mask.sum() for mask in self.invalid.values()))


def finite_outputs(probs: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A diverged model's outputs (NaN or infinite, as after a training loss of nan) made scorable:
    a sample whose probabilities are not all finite gets the uniform distribution (it tells nothing about
    the sample) and is marked invalid, so that it predicts no class and counts as wrong in every accuracy;
    non-finite features become 0. Returns (probabilities, features, invalid mask); finite outputs unchanged."""
    invalid = ~np.isfinite(probs).all(axis=1)
    if invalid.any():
        probs = probs.copy()
        probs[invalid] = 1.0 / probs.shape[1]
    if not np.isfinite(features).all():
        features = np.where(np.isfinite(features), features, 0.0).astype(features.dtype)
    return probs, features, invalid


class Evaluator:
    """Scores global models on the federation's forgotten, retained, test and triggered samples."""

    def __init__(self, federation: Federation, config: Mapping[str, Any]) -> None:
        self.federation = federation
        self.model_name = config["model"]
        self.device = resolve(config["device"])  # the server's: "auto" is the GPU this process sees
        self.seed = derive_seed(config["seed"], "evaluator")
        data, request = federation.data, federation.request
        forget_idx, retain_idx = federation.union_indices("forget"), federation.union_indices("retain")
        self.sizes = {"forget": len(forget_idx), "retain": len(retain_idx)}
        self.x = {"forget": data.x_train[forget_idx], "retain": data.x_train[retain_idx], "test": data.x_test}
        self.y = {"forget": data.y_train[forget_idx], "retain": data.y_train[retain_idx], "test": data.y_test}
        self.backdoor_target = None
        if len(federation.poisoned):
            self.backdoor_target = config["backdoor-target"]
            keep = data.y_test != self.backdoor_target
            self.x["backdoor"], self.y["backdoor"] = add_trigger(data.x_test[keep]), data.y_test[keep]
        # Non-members for the population attack: test samples of the retained population.
        self.forgotten_test = np.isin(data.y_test, request.classes)  # all False unless a class request
        self.test_retained = ~self.forgotten_test
        # SalUn's members: the first n retained training samples in data-set order (retain is sorted by
        # index), n = the number of non-members (mia-samples > 0 caps both sides: faster, not SalUn's protocol).
        self.salun_nonmembers = np.flatnonzero(self.test_retained)[:config["mia-samples"] or None]
        self.salun_members = min(len(self.salun_nonmembers), self.sizes["retain"])
        self.neighbours = neighbour_classes(data.x_train, data.y_train, request.classes) if request.classes else None
        self.seconds = 0.0  # wall time of the last scoring of a seed's models (the flow sets it)

    def model_from(self, arrays):
        """A model of the experiment's architecture holding ``arrays`` (a Flower ArrayRecord)."""
        data = self.federation.data
        model = build_model(self.model_name, data.input_shape, data.num_classes)
        model.load_state_dict(arrays.to_torch_state_dict())
        return model

    def outputs(self, arrays, sets: tuple[str, ...] | None = None) -> ModelOutputs:
        model = self.model_from(arrays)
        results = {name: finite_outputs(*predict(model, self.x[name], device=self.device)) for name in (sets or self.x)}
        return ModelOutputs({n: r[0] for n, r in results.items()}, {n: r[1] for n, r in results.items()},
                            {n: r[2] for n, r in results.items() if r[2].any()})

    def evaluate(self, outputs: ModelOutputs, reference: ModelOutputs) -> dict[str, Any]:
        """Every metric of a model, given its outputs and the reference model's outputs."""
        request = self.federation.request
        pred = {name: outputs.predictions(name) for name in outputs.probs}
        metrics = score((pred["forget"], self.y["forget"]), (pred["retain"], self.y["retain"]),
                        (pred["test"], self.y["test"]), self.federation.data.num_classes, request.classes)
        probs, labels, n = outputs.probs, self.y, self.salun_members
        nonmembers = self.salun_nonmembers
        efficacy = salun_mia_efficacy((probs["retain"][:n], labels["retain"][:n]),
                                      (probs["test"][nonmembers], labels["test"][nonmembers]),
                                      (probs["forget"], labels["forget"]))
        metrics["mia_efficacy"] = efficacy[SALUN_HEADLINE]
        metrics["mia_efficacy_by_feature"] = efficacy
        feats = {name: output_features(outputs.probs[name], self.y[name]) for name in ("forget", "retain", "test")}
        metrics.update(population_mia(feats["retain"], feats["test"][self.test_retained], feats["forget"], self.seed))
        metrics["neighbour_mia"] = None
        metrics["forget_predicted_as"] = None
        if self.neighbours is not None:
            forgotten_test = self.forgotten_test
            predicted = pred["test"][forgotten_test]  # -1 (no class) where the model diverged: in no share
            counts = np.bincount(predicted[predicted >= 0], minlength=self.federation.data.num_classes)
            metrics["forget_predicted_as"] = (counts / max(1, len(predicted))).tolist()
            metrics["neighbour_mia"] = nearest_neighbour_mia(outputs.probs["forget"], outputs.probs["test"][forgotten_test],
                                                      self.neighbours, self.seed)
        if len(request.classes) > 1:  # sequential requests: each request's class on its own
            metrics["forget_acc_by_class"] = self._by_class(pred["forget"])
        metrics["backdoor_asr"] = (attack_success_rate(pred["backdoor"], self.y["backdoor"], self.backdoor_target)
                                   if self.backdoor_target is not None else None)
        metrics["kl_to_reference"] = {f"kl_{s}": mean_kl(reference.probs[s], outputs.probs[s]) for s in ("forget", "test")}
        metrics["cka_to_reference"] = {f"cka_{s}": linear_cka(outputs.features[s], reference.features[s])
                                       for s in ("forget", "test")}
        metrics["nonfinite_outputs"] = outputs.nonfinite()
        return metrics

    def round_metrics(self, arrays) -> dict[str, float]:
        """The quick per-round metrics recorded during unlearning: forget_acc, test_acc, test_forget_acc."""
        outputs = self.outputs(arrays, sets=("forget", "test"))
        pred = {name: outputs.predictions(name) for name in outputs.probs}
        values = {"forget_acc": accuracy(pred["forget"], self.y["forget"]),
                  "test_acc": accuracy(pred["test"], self.y["test"])}
        if self.forgotten_test.any():
            mask = self.forgotten_test
            values["test_forget_acc"] = accuracy(pred["test"][mask], self.y["test"][mask])
        return {k: v for k, v in values.items() if v is not None}

    def forget_acc_by_class(self, arrays) -> dict[str, float | None]:
        """Accuracy on the forgotten training samples of each forgotten class (sequential requests: how
        each request's class fares after each later request)."""
        return self._by_class(self.outputs(arrays, sets=("forget",)).predictions("forget"))

    def _by_class(self, predictions: np.ndarray) -> dict[str, float | None]:
        labels = self.y["forget"]
        return {str(c): accuracy(predictions[labels == c], labels[labels == c]) for c in self.federation.request.classes}

    def representation_map(self, outputs: ModelOutputs) -> list[list[float]]:
        """2-D PCA projection of the model's test-set representations (for the representation map)."""
        from sklearn.decomposition import PCA

        coords = PCA(n_components=2, random_state=0).fit_transform(outputs.features["test"].astype(np.float64))
        return np.round(coords, 4).tolist()
