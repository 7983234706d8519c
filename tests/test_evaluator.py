import numpy as np
import pytest

from fedunlearn.evaluation.evaluator import (
    accuracy,
    average_gap,
    avg_gap_keys,
    gaps,
    per_class_accuracy,
    score,
    speedups,
)
from fedunlearn.runtime.phase import Cost


def test_accuracy_of_hand_made_predictions():
    assert accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75
    assert accuracy(np.array([]), np.array([])) is None


def test_per_class_accuracy_marks_absent_classes():
    pred = np.array([0, 0, 1, 1, 1])
    labels = np.array([0, 1, 1, 1, 0])
    assert per_class_accuracy(pred, labels, 3) == [0.5, pytest.approx(2 / 3), None]


def test_score_splits_test_accuracy_by_the_forgotten_class():
    # Test set: labels 0,0,1,1,2,2; the model never predicts class 1 (forgotten).
    test = (np.array([0, 0, 0, 2, 2, 1]), np.array([0, 0, 1, 1, 2, 2]))
    metrics = score(
        forget=(np.array([0, 0, 2, 1]), np.array([1, 1, 1, 1])),
        retain=(np.array([0, 2, 2]), np.array([0, 2, 0])),
        test=test, num_classes=3, forget_classes=(1,),
    )
    assert metrics["forget_acc"] == 0.25
    assert metrics["retain_acc"] == pytest.approx(2 / 3)
    assert metrics["test_acc"] == 0.5
    assert metrics["test_forget_acc"] == 0.0
    assert metrics["test_retain_acc"] == 0.75
    assert metrics["per_class_acc"] == [1.0, 0.0, 0.5]


def test_score_splits_test_accuracy_over_several_forgotten_classes():
    # Sequential requests forget classes 1 and 2: test samples 2..5 are forgotten (3 of 4 right), 0 and 1 retained.
    test = (np.array([0, 1, 1, 0, 2, 2]), np.array([0, 0, 1, 1, 2, 2]))
    metrics = score(forget=(np.array([1]), np.array([1])), retain=(np.array([0]), np.array([0])),
                    test=test, num_classes=3, forget_classes=(1, 2))
    assert metrics["test_forget_acc"] == 0.75
    assert metrics["test_retain_acc"] == 0.5


def test_gaps_avg_gap_and_speedups():
    model = {"forget_acc": 0.10, "retain_acc": 0.90, "test_acc": 0.80, "test_forget_acc": None, "test_retain_acc": 0.9}
    reference = {"forget_acc": 0.0, "retain_acc": 0.95, "test_acc": 0.85, "test_forget_acc": 0.0, "test_retain_acc": 0.9}
    gap = gaps(model, reference)
    assert gap["forget_acc"] == pytest.approx(0.10)
    assert gap["retain_acc"] == pytest.approx(-0.05)
    assert gap["test_forget_acc"] is None
    # Without leakage in the original, Avg Gap is the mean over the three accuracies; no attack share counts.
    assert avg_gap_keys({"rmia_auc": 0.55}) == avg_gap_keys(None) == ("forget_acc", "retain_acc", "test_acc")
    assert average_gap(dict(gap, mia_efficacy=0.2, mia_joint_members=0.9)) == pytest.approx((0.10 + 0.05 + 0.05) / 3)
    # Where the original leaks (its per-example AUC >= 0.6), the AUC's gap is the privacy term.
    leaky = avg_gap_keys({"rmia_auc": 0.61})
    assert leaky == ("forget_acc", "retain_acc", "test_acc", "rmia_auc")
    assert average_gap(dict(gap, rmia_auc=-0.2), leaky) == pytest.approx((0.10 + 0.05 + 0.05 + 0.2) / 4)
    assert average_gap(gap, leaky) == pytest.approx(0.2 / 3)  # a term without a value is skipped
    assert speedups(Cost(client_rounds=50, seconds=2.0), Cost(client_rounds=150, seconds=7.0)) == {
        "client_rounds": 3.0, "seconds": 3.5}
    assert speedups(Cost(), Cost(client_rounds=10, seconds=1.0)) == {"client_rounds": None, "seconds": None}


def test_a_diverged_models_outputs_predict_no_class_and_become_uniform_for_the_attacks():
    from fedunlearn.evaluation.evaluator import ModelOutputs, finite_outputs

    probs = np.array([[0.7, 0.2, 0.1], [np.nan, np.nan, np.nan], [0.1, 0.1, 0.8]], np.float32)
    features = np.array([[1.0, 2.0], [np.nan, np.inf], [3.0, 4.0]], np.float32)
    clean_probs, clean_features, invalid = finite_outputs(probs, features)
    assert invalid.tolist() == [False, True, False]
    assert np.allclose(clean_probs[1], 1 / 3) and np.array_equal(clean_probs[[0, 2]], probs[[0, 2]])
    assert clean_features[1].tolist() == [0.0, 0.0] and np.isfinite(clean_features).all()
    outputs = ModelOutputs({"test": clean_probs}, {"test": clean_features}, {"test": invalid})
    # The diverged sample predicts no class (-1), so it is wrong whatever its label: 2 of 3 right on labels 0, 0, 2.
    assert outputs.predictions("test").tolist() == [0, -1, 2] and outputs.nonfinite() == 1
    assert accuracy(outputs.predictions("test"), np.array([0, 0, 2])) == 2 / 3
    healthy = finite_outputs(probs[[0, 2]], features[[0, 2]])
    assert not healthy[2].any() and healthy[0] is not None


def test_report_means_keep_a_metric_that_only_some_seeds_have():
    from fedunlearn.reporting.seeds import mean_tree

    assert mean_tree([{"a": 1.0}, {"a": 3.0, "b": 2.0}]) == {"a": 2.0, "b": 2.0}
    assert mean_tree([{"a": {"x": 1.0}}, None, {"a": {"x": 2.0}}]) == {"a": {"x": 1.5}}
