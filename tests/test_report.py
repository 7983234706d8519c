import json

from fedunlearn.cost import Cost
from fedunlearn.report import build_report, new_run_dir, write_report

METRICS = {"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.9, "test_forget_acc": 0.0, "test_retain_acc": 1.0,
           "per_class_acc": [1.0, 0.0, 1.0]}
CONFIG = {"name": "exp", "out-dir": "", "dataset": "digits", "model": "cnn", "num-clients": 2,
          "partitioner": "iid", "seed": 4}


def _report():
    return build_report(CONFIG, {"kind": "class", "forget_class": 1},
                        {"original": (METRICS, Cost(1, 2, 3, 4, 0.5)), "retrain": (METRICS, Cost(1, 2, 3, 4, 0.5)),
                         "finetune": (dict(METRICS, forget_acc=0.25), Cost(1, 1, 3, 4, 0.25))})


def test_run_directory_is_named_after_the_experiment_and_latest_follows(tmp_path):
    first = new_run_dir(CONFIG, runs_root=tmp_path)
    assert first.parent == tmp_path and first.name.startswith("exp-") and not first.exists()
    write_report(_report(), first)
    second = new_run_dir(CONFIG, runs_root=tmp_path)
    assert second != first  # same second: a suffix keeps runs apart
    write_report(_report(), second)
    assert (tmp_path / "latest").resolve() == second.resolve()


def test_written_report_holds_json_tables_and_plot(tmp_path):
    out = tmp_path / "r"
    write_report(_report(), out)
    assert json.loads((out / "report.json").read_text())["models"]["finetune"]["gap"]["forget_acc"] == 0.25
    md = (out / "report.md").read_text()
    assert "| finetune | 0.250 (+0.250) |" in md
    assert "![Per-class test accuracy](plots/per_class.png)" in md and "seed = 4" in md
    assert (out / "plots" / "per_class.png").stat().st_size > 1000


def test_explicit_out_dir_is_used_as_given(tmp_path):
    assert new_run_dir(dict(CONFIG, **{"out-dir": str(tmp_path / "x")})) == tmp_path / "x"
