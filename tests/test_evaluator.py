import numpy as np
import pytest

from fedunlearn.cost import Cost
from fedunlearn.evaluator import accuracy, average_gap, gaps, per_class_accuracy, score, speedups


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
    assert average_gap(gap) == pytest.approx((0.10 + 0.05 + 0.05) / 3)  # mia_efficacy missing: skipped
    assert average_gap(dict(gap, mia_efficacy=0.2)) == pytest.approx((0.10 + 0.05 + 0.05 + 0.2) / 4)
    # The joint attack's share is not part of Avg Gap.
    assert average_gap(dict(gap, mia_efficacy=0.2, mia_joint_members=0.9)) == pytest.approx(0.4 / 4)
    assert speedups(Cost(client_rounds=50, seconds=2.0), Cost(client_rounds=150, seconds=7.0)) == {
        "client_rounds": 3.0, "seconds": 3.5}
    assert speedups(Cost(), Cost(client_rounds=10, seconds=1.0)) == {"client_rounds": None, "seconds": None}
