import json

import pytest

from fedunlearn.reporting.report import new_run_dir, write_report
from fedunlearn.reporting.seeds import combine, seed_report
from fedunlearn.runtime.phase import Cost

CONFIG = {"name": "exp", "out-dir": "", "dataset": "digits", "model": "cnn", "num-clients": 2,
          "partitioner": "iid", "seed": 4, "verdict-tolerance": 0.02}


def _metrics(forget_acc=0.0, mia=0.5, mia_auc=0.5):
    return {"forget_acc": forget_acc, "retain_acc": 1.0, "test_acc": 0.9, "test_forget_acc": 0.0,
            "test_retain_acc": 1.0, "per_class_acc": [1.0, forget_acc, 1.0], "mia_efficacy": mia,
            "mia_efficacy_by_feature": dict.fromkeys(("correctness", "confidence", "entropy", "m_entropy", "prob"), mia),
            "mia_joint_members": 1 - mia, "mia_auc": mia_auc,
            "neighbour_mia": 0.5, "backdoor_asr": None, "kl_to_reference": {"kl_forget": 0.0, "kl_test": 0.0},
            "cka_to_reference": {"cka_forget": 1.0, "cka_test": 1.0}}


def _seed(method_forget_acc, method_seconds=1.0):
    return seed_report({"original": (_metrics(0.9), Cost(15, 30, 3, 4, 3.0)),
                        "retrain": (_metrics(), Cost(15, 30, 3, 4, 3.0)),
                        "finetune": (_metrics(method_forget_acc), Cost(5, 10, 1, 1, method_seconds))})


def test_seed_report_gaps_avg_gap_and_speedup():
    models = _seed(0.3)
    assert all(v in (0.0, None) for v in models["retrain"]["gap"].values())
    assert models["original"]["gap"]["forget_acc"] == pytest.approx(0.9) and "speedup" not in models["original"]
    fine = models["finetune"]
    assert fine["gap"]["forget_acc"] == pytest.approx(0.3)
    assert fine["avg_gap"] == pytest.approx(0.3 / 3)  # over forget_acc, retain_acc, test_acc: the original does not leak
    assert fine["speedup"] == {"client_rounds": 3.0, "seconds": 3.0}


def test_combine_means_intervals_and_verdicts_over_seeds():
    report = combine(CONFIG, {"kind": "class", "forget_class": 1},
                     {0: _seed(0.00, 1.0), 1: _seed(0.01, 2.0), 2: _seed(0.02, 3.0)})
    fine = report["models"]["finetune"]
    assert fine["metrics"]["forget_acc"] == pytest.approx(0.01)
    assert fine["metrics"]["per_class_acc"][1] == pytest.approx(0.01)
    assert fine["cost"]["seconds"] == pytest.approx(2.0)
    stats = fine["stats"]["gap.forget_acc"]
    half = 4.302652729911275 * 0.01 / 3 ** 0.5
    assert stats["std"] == pytest.approx(0.01) and stats["ci95"] == pytest.approx([0.01 - half, 0.01 + half])
    # The interval [-0.015, 0.035] straddles the tolerance 0.02: not proven equal, not proven different.
    assert fine["verdict"]["metrics"]["forget_acc"] == "inconclusive"
    assert fine["verdict"]["metrics"]["retain_acc"] == "within"
    assert report["models"]["original"]["verdict"]["metrics"]["forget_acc"] == "differs"
    assert report["models"]["retrain"]["verdict"]["overall"] == (
        "indistinguishable from retrain on these metrics (3 seeds, 95% intervals)")
    assert report["seeds"] == [0, 1, 2] and set(report["per_seed"]) == {"0", "1", "2"}
    assert fine["stats"]["metrics.per_class_acc.1"]["std"] == pytest.approx(0.01)


def test_table_shows_the_interval_half_width_and_the_gap():
    from fedunlearn.reporting.report import table_rows

    report = combine(CONFIG, {"kind": "class", "forget_class": 1},
                     {0: _seed(0.00), 1: _seed(0.01), 2: _seed(0.02)})
    header, rows = table_rows(report)
    fine = rows[[r[0] for r in rows].index("finetune")]
    half = 4.302652729911275 * 0.01 / 3 ** 0.5
    # 0.00, 0.01, 0.02: the interval [-0.015, 0.035] is truncated at 0, the range of an accuracy
    assert fine[header.index("forget_acc")] == f"0.010 [0.000, {0.01 + half:.3f}] (+0.010)"


def test_single_seed_report_says_it_has_no_interval():
    report = combine(CONFIG, {"kind": "class", "forget_class": 1}, {4: _seed(0.3)})
    fine = report["models"]["finetune"]
    assert fine["stats"]["metrics.forget_acc"]["ci95"] is None
    assert fine["verdict"]["overall"] == "differs from retrain on forget_acc (single seed: no interval)"


def _report():
    report = combine(CONFIG, {"kind": "class", "forget_class": 1}, {4: _seed(0.25)})
    report["representation_map"] = {"seed": 4, "labels": [0, 1, 2, 1],
                                    "models": {n: [[0, 0], [1, 1], [2, 0], [1, 2]] for n in report["models"]}}
    return report


def test_run_directory_is_named_after_the_experiment_and_latest_follows(tmp_path):
    first = new_run_dir(CONFIG, runs_root=tmp_path)
    assert first.parent == tmp_path and first.name.startswith("exp-") and not first.exists()
    write_report(_report(), first)
    second = new_run_dir(CONFIG, runs_root=tmp_path)
    assert second != first  # same second: a suffix keeps runs apart
    write_report(_report(), second)
    assert (tmp_path / "latest").resolve() == second.resolve()


def test_written_report_holds_json_tables_verdicts_and_plots(tmp_path):
    out = tmp_path / "r"
    write_report(_report(), out)
    assert json.loads((out / "report.json").read_text())["models"]["finetune"]["gap"]["forget_acc"] == 0.25
    md = (out / "report.md").read_text()
    assert "| finetune | 0.250 (+0.250) |" in md
    assert "**finetune**: differs from retrain on forget_acc (single seed: no interval)" in md
    for plot in ("per_class", "gap_heatmap", "representation_map", "unlearning_curves"):
        assert f"(plots/{plot}.png)" in md and (out / "plots" / f"{plot}.png").stat().st_size > 1000


def test_explicit_out_dir_is_used_as_given(tmp_path):
    assert new_run_dir(dict(CONFIG, **{"out-dir": str(tmp_path / "x")})) == tmp_path / "x"


def test_terminal_table_shows_variant_labels_verbatim():
    from io import StringIO

    from rich.console import Console

    from fedunlearn.reporting.report import print_table

    report = combine(CONFIG, {"kind": "class", "forget_class": 1},
                     {0: seed_report({"retrain": (_metrics(), Cost(15, 30, 3, 4, 3.0)),
                                      "fucrt[fucrt-lambda-local=0]": (_metrics(0.5), Cost(1, 10, 1, 1, 1.0))})})
    out = StringIO()
    print_table(report, Console(file=out, width=300))
    assert "fucrt[fucrt-lambda-local=0]" in out.getvalue()


def test_a_diverged_model_is_named_under_the_table_and_a_healthy_one_is_not():
    from fedunlearn.reporting.report import diverged_note, notes

    models = {"not": {"metrics": {"nonfinite_outputs": 16000.0, "mia_auc": 0.5}},
              "retrain": {"metrics": {"nonfinite_outputs": 0, "mia_auc": 0.9}},
              "finetune": {"metrics": {"mia_auc": 0.9}}}  # stored before the metric existed
    assert diverged_note(models).startswith("Diverged: non-finite outputs (NaN or infinite) on not (16000 samples)")
    assert "retrain" not in diverged_note(models) and "finetune" not in diverged_note(models)
    assert diverged_note({"retrain": models["retrain"]}) == ""
    lines = notes(models)  # the no-signal note (not's mia_auc 0.5), then the diverged note, each + a blank line
    assert len(lines) == 4 and lines[1] == lines[3] == "" and lines[2] == diverged_note(models)


def _collapsing(seed_collapses: bool, original_collapses: bool = False):
    models = {"original": (_metrics(0.9), Cost(15, 30, 3, 4, 3.0)), "retrain": (_metrics(), Cost(15, 30, 3, 4, 3.0)),
              "finetune": (_metrics(0.02), Cost(5, 10, 1, 1, 1.0))}
    if seed_collapses:  # a constant prediction: 0.1 on the retained classes of 10
        models["finetune"] = ({**_metrics(0.0), "test_retain_acc": 0.1, "retain_acc": 0.1}, Cost(5, 10, 1, 1, 1.0))
    if original_collapses:
        models["original"] = ({**_metrics(0.0), "test_retain_acc": 0.1}, Cost(15, 30, 3, 4, 3.0))
    return seed_report(models)


def test_a_diverged_seed_is_counted_and_kept_out_of_the_means_and_verdicts():
    data = {"num_classes": 10}
    report = combine(CONFIG, {"kind": "class"}, {0: _collapsing(False), 1: _collapsing(True), 2: _collapsing(False)},
                     data)
    fine = report["models"]["finetune"]
    assert fine["diverged"] == [1] and fine["metrics"]["test_retain_acc"] == pytest.approx(1.0)
    assert fine["stats"]["metrics.forget_acc"]["n"] == 2 and fine["verdict"]["overall"].startswith("diverged 1/3; ")
    assert report["models"]["retrain"]["diverged"] == [] and report["not_learned"] == []
    from fedunlearn.reporting.seeds import diverged
    assert diverged({**_metrics(), "nonfinite_outputs": 3}, 10) and not diverged(_metrics(), 10)  # the evaluator's count
    from fedunlearn.reporting.seeds import sanity_lines
    assert "finetune 1/3 (seed 1)" in sanity_lines(report)[0] and "at most 0.20" in sanity_lines(report)[0]


def test_a_scenario_whose_original_did_not_learn_gives_no_verdicts():
    report = combine(CONFIG, {"kind": "class"}, {s: _collapsing(False, original_collapses=True) for s in range(3)},
                     {"num_classes": 10})
    assert report["not_learned"] == ["original"]
    assert all(e["verdict"]["overall"] == "no verdict: original did not learn" for e in report["models"].values())
    assert all(v is None for v in report["models"]["finetune"]["verdict"]["metrics"].values())


def test_a_second_reference_sets_each_metrics_margin_from_the_noise_floor():
    from fedunlearn.reporting.seeds import MIN_MARGIN, sanity_lines

    def seed(second_forget, method_forget):
        return seed_report({"original": (_metrics(0.9), Cost(15, 30, 3, 4, 3.0)),
                            "retrain": (_metrics(0.10), Cost(15, 30, 3, 4, 3.0)),
                            "retrain-2": (_metrics(second_forget), Cost(15, 30, 3, 4, 3.0)),
                            "finetune": (_metrics(method_forget), Cost(5, 10, 1, 1, 1.0))})

    # retrain-2's forget_acc gaps: +0.04, -0.06, +0.05: |gap| 0.04, 0.06, 0.05, mean 0.05, sd 0.01, t(2) 4.303:
    # upper 0.05 + 4.303 * 0.01 / sqrt(3) = 0.0748. The method's gaps 0.05, 0.05, 0.06: interval inside it.
    report = combine(CONFIG, {"kind": "class"}, {0: seed(0.14, 0.15), 1: seed(0.04, 0.15), 2: seed(0.15, 0.16)})
    floor = report["noise_floor"]["forget_acc"]
    assert floor["mean"] == pytest.approx(0.05) and floor["margin"] == pytest.approx(0.05 + 4.30265 * 0.01 / 3 ** 0.5,
                                                                                     abs=1e-4)
    fine = report["models"]["finetune"]
    assert fine["verdict"]["metrics"]["forget_acc"] == "within"  # with the tolerance 0.02 it would differ
    assert report["noise_floor"]["retain_acc"]["margin"] == MIN_MARGIN  # both references agree exactly: the minimum
    assert "speedup" not in report["per_seed"]["0"]["retrain-2"]
    assert "forget_acc 0.050 (margin 0.075)" in sanity_lines(report)[0]
    assert combine(CONFIG, {"kind": "class"}, {0: _seed(0.0)})["noise_floor"] == {}


def test_a_stored_report_is_combined_again_under_the_current_avg_gap_and_says_which_seeds_leak():
    from fedunlearn.reporting.seeds import privacy_term_line, recombine

    def seed(original_rmia):
        models = _seed(0.3)
        models["original"]["metrics"]["rmia_auc"] = original_rmia
        models["retrain"]["metrics"]["rmia_auc"] = 0.5
        models["finetune"]["metrics"]["rmia_auc"] = 0.7
        return models

    report = combine(CONFIG, {"kind": "class", "forget_class": 1}, {0: seed(0.55), 1: seed(0.8)})
    stored = json.loads(json.dumps(report))  # as report.json holds it
    for entry in stored["per_seed"].values():  # an older Avg Gap, as a report written before would hold it
        entry["finetune"]["avg_gap"] = 0.99
    stored["models"]["finetune"]["avg_gap"] = 0.99
    again = recombine(stored)
    # Seed 0: the original does not leak (0.55): the three accuracies (0.3 / 3). Seed 1: it leaks (0.8): the
    # per-example attack's |gap| 0.2 joins them ((0.3 + 0.2) / 4). The mean over the two seeds:
    assert again["models"]["finetune"]["avg_gap"] == pytest.approx((0.1 + 0.125) / 2)
    assert again["seeds"] == [0, 1] and again["experiment"] == stored["experiment"]
    line = privacy_term_line(again)
    assert "in on 1/2 seeds (seed 1)" in line and "0.55, 0.80" in line


def test_a_method_that_loses_more_than_0_05_of_the_reference_s_retained_accuracy_is_named_with_why():
    from fedunlearn.reporting.seeds import shortfall_line, shortfalls

    def seed(head_tilt, not_):
        return seed_report({"original": (_metrics(0.9), Cost(15, 30, 3, 4, 3.0)),
                            "retrain": ({**_metrics(), "test_retain_acc": 0.90}, Cost(15, 30, 3, 4, 3.0)),
                            "head-tilt": ({**_metrics(), "test_retain_acc": head_tilt}, Cost(5, 10, 1, 1, 1.0)),
                            "not": ({**_metrics(), "test_retain_acc": not_}, Cost(5, 10, 1, 1, 1.0))})

    # head tilt: 0.87 and 0.85, mean 0.86: 0.04 below, not listed; NoT: 0.82 and 0.80, mean 0.81: -0.09.
    report = combine(CONFIG, {"kind": "class"}, {0: seed(0.87, 0.82), 1: seed(0.85, 0.80)}, {"num_classes": 10})
    assert shortfalls(report) == {"not": pytest.approx(-0.09)}
    assert shortfall_line(report, {}) == ("More than 0.05 below the reference's `test_retain_acc` (mean over the seeds "
                                          "that did not diverge): `not` -0.090: not explained.")
    assert shortfall_line(report, None).endswith("did not diverge): `not` -0.090.")  # a single run: no reasons
    assert shortfall_line(report, {"not": "two rounds do not undo the negation"}).endswith(
        "`not` -0.090: two rounds do not undo the negation.")
    # NoT collapses on seed 1 (0.1 on ten classes: diverged): the seed it keeps, 0.86, is within 0.05.
    report = combine(CONFIG, {"kind": "class"}, {0: seed(0.86, 0.86), 1: seed(0.86, 0.1)}, {"num_classes": 10})
    assert shortfalls(report) == {} and shortfall_line(report, {}) is None


def test_every_share_and_similarity_has_its_interval_truncated_to_0_1_and_a_divergence_to_0_and_above():
    from fedunlearn.reporting.seeds import bounds_of

    for key in ("metrics.test_retain_acc", "metrics.rmia_auc", "metrics.mia_efficacy_by_feature.m_entropy",
                "metrics.forget_predicted_as.3", "metrics.per_class_acc.0", "metrics.forget_acc_by_class.5", "metrics.cka_to_reference.cka_test",
                "metrics.robust_kl_to_reference.js_forget", "avg_gap"):
        assert bounds_of(key) == (0.0, 1.0), key
    for key in ("metrics.kl_to_reference.kl_forget", "metrics.robust_kl_to_reference.median_kl_test",
                "metrics.nonfinite_outputs", "cost.seconds", "speedup.client_rounds"):
        assert bounds_of(key) == (0.0, float("inf")), key
    assert bounds_of("gap.forget_acc") == (-1.0, 1.0) and bounds_of("details.whatever") is None
    # Three seeds of a share near 0: the t-interval would reach below 0; it is cut at 0.
    report = combine(CONFIG, {"kind": "class"}, {s: _seed(v) for s, v in enumerate((0.0, 0.0, 0.03))})
    assert report["models"]["finetune"]["stats"]["metrics.per_class_acc.1"]["ci95"][0] == 0.0
