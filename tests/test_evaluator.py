import numpy as np
import pytest

from fedunlearn.cost import Cost
from fedunlearn.evaluator import accuracy, average_gap, gaps, per_class_accuracy, score, speedups
from fedunlearn.report import build_report


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
        test=test, num_classes=3, forget_class=1,
    )
    assert metrics["forget_acc"] == 0.25
    assert metrics["retain_acc"] == pytest.approx(2 / 3)
    assert metrics["test_acc"] == 0.5
    assert metrics["test_forget_acc"] == 0.0
    assert metrics["test_retain_acc"] == 0.75
    assert metrics["per_class_acc"] == [1.0, 0.0, 0.5]


def test_gaps_avg_gap_and_speedups():
    model = {"forget_acc": 0.10, "retain_acc": 0.90, "test_acc": 0.80, "test_forget_acc": None, "test_retain_acc": 0.9}
    reference = {"forget_acc": 0.0, "retain_acc": 0.95, "test_acc": 0.85, "test_forget_acc": 0.0, "test_retain_acc": 0.9}
    gap = gaps(model, reference)
    assert gap["forget_acc"] == pytest.approx(0.10)
    assert gap["retain_acc"] == pytest.approx(-0.05)
    assert gap["test_forget_acc"] is None
    assert average_gap(gap) == pytest.approx((0.10 + 0.05 + 0.05) / 3)
    assert speedups(Cost(client_rounds=50, seconds=2.0), Cost(client_rounds=150, seconds=7.0)) == {
        "client_rounds": 3.0, "seconds": 3.5}
    assert speedups(Cost(), Cost(client_rounds=10, seconds=1.0)) == {"client_rounds": None, "seconds": None}


def test_report_compares_methods_with_the_reference_only():
    ref = {"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.9, "test_forget_acc": 0.0, "test_retain_acc": 1.0,
           "per_class_acc": [1.0, 0.0]}
    method = dict(ref, forget_acc=0.5, test_forget_acc=0.2)
    report = build_report(
        {"name": "t"}, {"kind": "class", "forget_class": 1},
        {"original": (ref, Cost(client_rounds=30)), "retrain": (ref, Cost(client_rounds=30, seconds=3.0)),
         "finetune": (method, Cost(client_rounds=10, seconds=1.0))},
    )
    assert "gap" not in report["models"]["original"] and "gap" not in report["models"]["retrain"]
    fine = report["models"]["finetune"]
    assert fine["gap"]["forget_acc"] == 0.5 and fine["gap"]["test_forget_acc"] == 0.2
    assert fine["avg_gap"] == pytest.approx(0.5 / 3)
    assert fine["speedup"] == {"client_rounds": 3.0, "seconds": 3.0}
    assert fine["cost"]["client_rounds"] == 10
