"""Tuning (fedunlearn/reporting/tuning.py): grid points become variants, the rule picks on hand-made reports, the
tuned file round-trips into the settings a suite's methods run with."""

import tomllib

import pytest

from fedunlearn.config import ConfigError, method_variants, validate
from fedunlearn.reporting import tuning


def test_a_grid_expands_plain_methods_into_one_variant_per_point():
    grid = {"fucrt": {"learning-rate": [0.01, 0.05], "fucrt-temperature": [0.1]}, "not": {"learning-rate": [0.02]}}
    assert tuning.expand("finetune,fucrt,not,not[unlearn-rounds=5]", grid) == (
        "finetune,fucrt[learning-rate=0.01;fucrt-temperature=0.1],fucrt[learning-rate=0.05;fucrt-temperature=0.1],"
        "not[learning-rate=0.02],not[unlearn-rounds=5]")
    with pytest.raises(ConfigError, match="grid.not must map each key to a non-empty list"):
        tuning.check_grid({"not": {"learning-rate": []}}, "suite")


def _model(avg_gap, diverged=()):
    return {"avg_gap": avg_gap, "diverged": list(diverged)}


def test_the_rule_picks_the_smallest_avg_gap_among_points_that_never_diverged():
    methods = "finetune[learning-rate=0.01],finetune[learning-rate=0.05],not[learning-rate=0.01],not[learning-rate=0.05]"
    report = {"experiment": validate({"unlearn-methods": methods}),
              "models": {"finetune[learning-rate=0.01]": _model(0.04), "finetune[learning-rate=0.05]": _model(0.03),
                         # NoT's best Avg Gap diverged on one tuning seed: the other point is chosen
                         "not[learning-rate=0.01]": _model(0.10), "not[learning-rate=0.05]": _model(0.02, [101])}}
    chosen = tuning.select(report)
    assert chosen["finetune"]["overrides"] == {"learning-rate": 0.05} and chosen["finetune"]["avg_gap"] == 0.03
    assert chosen["not"]["overrides"] == {"learning-rate": 0.01}
    assert (chosen["not"]["diverged"], chosen["not"]["points"]) == (1, 2)


def test_every_point_diverged_keeps_the_defaults():
    report = {"experiment": validate({"unlearn-methods": "not[learning-rate=0.05]"}),
              "models": {"not[learning-rate=0.05]": _model(0.5, [100, 101])}}
    assert tuning.select(report)["not"] == {"overrides": {}, "label": None, "avg_gap": None, "points": 1,
                                            "diverged": 1, "at_edge": []}


def test_a_choice_at_the_end_of_three_or_more_values_is_flagged():
    points = [{"learning-rate": v, "salun-ratio": r} for v in (0.01, 0.02, 0.05) for r in (0.3, 0.7)]
    assert tuning.at_edge({"learning-rate": 0.05, "salun-ratio": 0.3}, points) == ["learning-rate"]
    assert tuning.at_edge({"learning-rate": 0.02, "salun-ratio": 0.7}, points) == []  # two values: no edge to speak of


def test_the_tuned_file_round_trips_into_each_methods_settings():
    selection = {"class": {"fucrt": {"overrides": {"learning-rate": 0.01, "fucrt-temperature": 0.5}},
                           "not": {"overrides": {}}},
                 "client": {"not": {"overrides": {"learning-rate": 0.02}}}}
    tables = tomllib.loads(tuning.tuned_text(selection, "fedunlearn bench tune.toml", [100, 101]))
    assert tables["class"]["fucrt"] == {"learning-rate": 0.01, "fucrt-temperature": 0.5}
    text = tuning.tuned_methods(tables, "class", "tuned")
    assert text == "fucrt[learning-rate=0.01;fucrt-temperature=0.5]"  # NoT kept its defaults: not named
    config = validate({"unlearn-methods": "fucrt,fucrt[fucrt-temperature=0.1],not", "tuned-methods": text})
    # Labels stay the methods' names; an entry's own key wins over the tuned one.
    assert method_variants(config) == [
        ("fucrt", "fucrt", {"learning-rate": 0.01, "fucrt-temperature": 0.5}),
        ("fucrt[fucrt-temperature=0.1]", "fucrt", {"learning-rate": 0.01, "fucrt-temperature": 0.1}),
        ("not", "not", {})]


def test_a_suite_that_reads_tuned_values_reports_other_seeds_on_the_other_half():
    text = tuning.tuned_text({"class": {"not": {"overrides": {"learning-rate": 0.02}}}}, "fedunlearn bench t.toml",
                             [100, 101])
    assert tuning.tuned_header(text) == {"command": "fedunlearn bench t.toml", "seeds": [100, 101]}
    reported = {"class": {"test-half": "report"}}
    tuning.check_protocol(text, [0, 1, 2], reported, "suite")  # other seeds, the other half: fine
    with pytest.raises(ConfigError, match=r"suite: seeds \[101\] are the tuned file's tuning seeds"):
        tuning.check_protocol(text, [0, 101], reported, "suite")
    with pytest.raises(ConfigError, match="scenario 'class': test-half = '': a suite that reads tuned values"):
        tuning.check_protocol(text, [0], {"class": {"test-half": ""}}, "suite")
    assert tuning.tuned_header("[class.not]\n") == {"command": "", "seeds": []}  # a hand-written file: no claim
