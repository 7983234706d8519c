"""Sequential requests: combining a method's steps, and the report's per-request table (hand-made cases)."""

from types import SimpleNamespace

from fedunlearn.strategies.flow import sequential_result

from fedunlearn.reporting.report import sequential_rows
from fedunlearn.runtime.phase import Cost, PhaseResult


class FakeEvaluator:
    """Scores a 'model' that is just a dict class -> forget accuracy."""

    federation = SimpleNamespace(request=SimpleNamespace(classes=(3, 5)))

    def forget_acc_by_class(self, arrays):
        return dict(arrays)


def test_steps_combine_into_one_result():
    first = PhaseResult({"3": 0.0, "5": 0.9}, Cost(rounds=3, client_rounds=6, seconds=1.0, failures=1),
                        history=[{"round": 0, "forget_acc": 0.9}, {"round": 1, "forget_acc": 0.5},
                                 {"round": 2, "forget_acc": 0.45}], details={"transformation_classes": [2]})
    second = PhaseResult({"3": 0.1, "5": 0.0}, Cost(rounds=2, client_rounds=4, seconds=0.5, retries=2),
                         history=[{"round": 0, "forget_acc": 0.45}, {"round": 1, "forget_acc": 0.2},
                                  {"round": 2, "forget_acc": 0.05}], details={"transformation_classes": [9]})
    result = sequential_result([first, second], FakeEvaluator())
    assert result.arrays is second.arrays
    assert result.cost == Cost(rounds=5, client_rounds=10, seconds=1.5, failures=1, retries=2)
    # Rounds numbered on; the second step's round 0 is the first step's last model and is dropped.
    assert [(h["round"], h["request"], h["forget_acc"]) for h in result.history] == [
        (0, 1, 0.9), (1, 1, 0.5), (2, 1, 0.45), (3, 2, 0.2), (4, 2, 0.05)]
    assert result.details == {"requests": [
        {"request": 1, "forget_class": 3, "details": {"transformation_classes": [2]},
         "forget_acc_by_class": {"3": 0.0, "5": 0.9}},
        {"request": 2, "forget_class": 5, "details": {"transformation_classes": [9]},
         "forget_acc_by_class": {"3": 0.1, "5": 0.0}}]}


def _steps(*accs):
    return {"requests": [{"request": i + 1, "forget_acc_by_class": a} for i, a in enumerate(accs)]}


def test_report_table_averages_each_request_over_seeds():
    report = {
        "request": {"kind": "sequential", "forget_classes": [3, 5]},
        "models": {
            "original": {"metrics": {"forget_acc_by_class": {"3": 0.9, "5": 0.8}}},
            "retrain": {"metrics": {"forget_acc_by_class": {"3": 0.0, "5": 0.0}}},
            "not": {"metrics": {}, "details": {
                "0": _steps({"3": 0.0, "5": 0.8}, {"3": 0.5, "5": 0.4}),
                "1": _steps({"3": 0.2, "5": 0.6}, {"3": 0.3, "5": 0.0})}},
        },
    }
    header, rows = sequential_rows(report)
    assert header == ["model", "after request", "class 3 (request 1)", "class 5 (request 2)"]
    assert rows == [["original", "-", "0.900", "0.800"], ["retrain", "-", "0.000", "0.000"],
                    ["not", "1", "0.100", "0.700"], ["not", "2", "0.400", "0.200"]]
    one_request = {"request": {"kind": "class", "forget_class": 3}, "models": report["models"]}
    assert sequential_rows(one_request) == ([], [])
