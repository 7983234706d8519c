"""The central evaluator: how a model does on forgotten, retained and test data, what it leaks, and
how far it is from the reference model retrained without the forgotten data.

The scoring functions are pure (arrays in, numbers out); :class:`Evaluator` binds them to a
:class:`~fedunlearn.data.federation.Federation` and a model architecture. Definitions: ``docs/evaluator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from fedunlearn.data.backdoor import add_trigger, attack_success_rate
from fedunlearn.data.datasets import test_half_indices
from fedunlearn.data.federation import Federation
from fedunlearn.evaluation.membership import (
    SALUN_HEADLINE,
    nearest_neighbour_mia,
    neighbour_classes,
    output_features,
    population_mia,
    salun_mia_efficacy,
)
from fedunlearn.evaluation.rmia import attack_roc, label_likelihood, matching_weights, rmia_scores
from fedunlearn.evaluation.similarity import linear_cka, mean_js, mean_kl, median_kl
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed, predict
from fedunlearn.runtime.device import resolve
from fedunlearn.runtime.phase import Cost

ACCURACY_KEYS = ("forget_acc", "retain_acc", "test_acc", "test_forget_acc", "test_retain_acc")
# The per-example attack (RMIA, fedunlearn/evaluation/rmia.py) on the forgotten samples against held-out ones: its
# AUC and its TPR at 1% and 0.1% FPR.
RMIA_KEYS = ("rmia_auc", "rmia_tpr_1pct", "rmia_tpr_01pct")
PRIVACY_KEYS = ("mia_efficacy", "mia_joint_members", "mia_auc", "neighbour_mia", "backdoor_asr", *RMIA_KEYS)
GAP_KEYS = ACCURACY_KEYS + PRIVACY_KEYS
MIA_SIGNAL_AUC = 0.6  # below this AUC a membership attack has no usable signal on the model
# NoT's Avg Gap over the three accuracies the field's tables report and a privacy term: the per-example attack's AUC,
# on a seed where the original model leaks (its rmia_auc >= MIA_SIGNAL_AUC: there was something to forget). Where
# it does not leak, the privacy term is left out: SalUn's MIA-efficacy there is noise (the population attack has no
# signal), and it would dominate the mean.
AVG_GAP_ACCURACIES = ("forget_acc", "retain_acc", "test_acc")
AVG_GAP_PRIVACY = "rmia_auc"
AVG_GAP_TEXT = (f"mean |gap| over forget_acc, retain_acc and test_acc, and {AVG_GAP_PRIVACY} (the per-example "
                f"attack's AUC) on the seeds where the original model leaks (its {AVG_GAP_PRIVACY} at least "
                f"{MIA_SIGNAL_AUC}); where it does not, there was no membership to forget and the privacy term is left out")
# mia_auc describes the attack, not a target; the joint attack's share and the TPRs are reported, not judged.
VERDICT_KEYS = ACCURACY_KEYS + ("mia_efficacy", "neighbour_mia", "backdoor_asr", "rmia_auc")
SPEEDUP_KEYS = ("client_rounds", "seconds")


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


def original_leaks(original_metrics: Mapping[str, Any] | None) -> bool:
    """Whether the original model leaks membership of the forgotten samples (its ``rmia_auc`` >= MIA_SIGNAL_AUC)."""
    auc = (original_metrics or {}).get(AVG_GAP_PRIVACY)
    return auc is not None and auc >= MIA_SIGNAL_AUC


def avg_gap_keys(original_metrics: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The terms of Avg Gap on a seed: the three accuracies, and the privacy term where the original leaks."""
    return AVG_GAP_ACCURACIES + ((AVG_GAP_PRIVACY,) if original_leaks(original_metrics) else ())


def average_gap(gap: Mapping[str, float | None], keys: tuple[str, ...] = AVG_GAP_ACCURACIES) -> float:
    """Mean absolute gap over ``keys`` (NoT's Avg Gap; see :func:`avg_gap_keys`); keys without a value are skipped."""
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
        # The test samples scored: all of the test split, or with test-half its validation or its reported half.
        self.test_indices = test_half_indices(data.y_test, config["test-half"])
        x_test, y_test = data.x_test[self.test_indices], data.y_test[self.test_indices]
        self.x = {"forget": data.x_train[forget_idx], "retain": data.x_train[retain_idx], "test": x_test}
        self.y = {"forget": data.y_train[forget_idx], "retain": data.y_train[retain_idx], "test": y_test}
        self.backdoor_target = None
        if len(federation.poisoned):
            self.backdoor_target = config["backdoor-target"]
            keep = y_test != self.backdoor_target
            self.x["backdoor"], self.y["backdoor"] = add_trigger(x_test[keep]), y_test[keep]
        # Non-members for the population attack: test samples of the retained population.
        self.forgotten_test = np.isin(y_test, request.classes)  # all False unless a class request
        self.test_retained = ~self.forgotten_test
        # SalUn's members: the first n retained training samples in data-set order (retain is sorted by
        # index), n = the number of non-members (mia-samples > 0 caps both sides: faster, not SalUn's protocol).
        self.salun_nonmembers = np.flatnonzero(self.test_retained)[:config["mia-samples"] or None]
        self.salun_members = min(len(self.salun_nonmembers), self.sizes["retain"])
        # The per-example attack: population samples z are a fixed random half of the test set; the non-members it
        # tells from the forgotten samples are the other half's samples of the forgotten samples' classes, weighted
        # to the same class shares (the attack must not tell classes apart instead of members).
        order = np.random.default_rng(derive_seed(config["seed"], "rmia")).permutation(len(y_test))
        self.attack_population = np.sort(order[: len(order) // 2])
        heldout = np.sort(order[len(order) // 2:])
        self.attack_heldout = heldout[np.isin(y_test[heldout], np.unique(self.y["forget"]))]
        self.attack_weights = matching_weights(y_test[self.attack_heldout], self.y["forget"])
        self.rmia_a, self.rmia_gamma = config["rmia-offline-a"], config["rmia-gamma"]
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

    def evaluate(self, outputs: ModelOutputs, reference: ModelOutputs,
                 attack_references: Sequence[ModelOutputs] = ()) -> dict[str, Any]:
        """Every metric of a model, given its outputs, the reference model's outputs and those of the per-example
        attack's reference models (none: no per-example attack)."""
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
        metrics.update(self.per_example_attack(outputs, attack_references))
        metrics["kl_to_reference"] = {f"kl_{s}": mean_kl(reference.probs[s], outputs.probs[s]) for s in ("forget", "test")}
        metrics["robust_kl_to_reference"] = {
            **{f"median_kl_{s}": median_kl(reference.probs[s], outputs.probs[s]) for s in ("forget", "test")},
            **{f"js_{s}": mean_js(reference.probs[s], outputs.probs[s]) for s in ("forget", "test")}}
        metrics["cka_to_reference"] = {f"cka_{s}": linear_cka(outputs.features[s], reference.features[s])
                                       for s in ("forget", "test")}
        metrics["nonfinite_outputs"] = outputs.nonfinite()
        return metrics

    def per_example_attack(self, outputs: ModelOutputs, references: Sequence[ModelOutputs]) -> dict[str, float | None]:
        """RMIA against the model: the forgotten samples (members of the original) against held-out samples of the
        same classes, scored with ``references`` (models trained without either); None without references."""
        if not references or len(self.attack_heldout) == 0:
            return dict.fromkeys(RMIA_KEYS)
        sides = {"forget": (self.y["forget"], slice(None)), "heldout": (self.y["test"][self.attack_heldout],
                                                                        self.attack_heldout),
                 "population": (self.y["test"][self.attack_population], self.attack_population)}

        def likelihoods(model: ModelOutputs, side: str) -> np.ndarray:
            labels, rows = sides[side]
            return label_likelihood(model.probs["forget" if side == "forget" else "test"][rows], labels)

        z = likelihoods(outputs, "population"), np.stack([likelihoods(r, "population") for r in references])
        scores = {side: rmia_scores(likelihoods(outputs, side), np.stack([likelihoods(r, side) for r in references]),
                                    *z, a=self.rmia_a, gamma=self.rmia_gamma) for side in ("forget", "heldout")}
        roc = attack_roc(scores["forget"], scores["heldout"], self.attack_weights)
        return {f"rmia_{k}": v for k, v in roc.items()}

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
