"""The scale benchmark's bookkeeping: FUCRT's selection timed from a stopped run's progress lines, and the row a
stopped run gets (experiments/bench_scale.py; the runs themselves take minutes and are the benchmark's)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
from bench_scale import overrides, reading, selection_from_progress, table_row  # noqa: E402


def test_the_selection_is_timed_between_its_two_progress_lines():
    lines = [(3.0, "original     round 6/6  train loss 0.1"),
             (10.5, "fucrt: selection round, asking 10,000 clients"),
             (262.0, "fucrt: transformation classes [3] (vote of 10,000 clients)"),
             (263.0, "fucrt        round 1/4  train loss 5.0")]
    assert selection_from_progress(lines) == pytest.approx(251.5)


def test_a_selection_still_running_has_no_time():
    assert selection_from_progress([(10.5, "fucrt: selection round, asking 10,000 clients")]) is None
    assert selection_from_progress([]) is None


def test_a_stopped_run_says_where_it_was_and_a_stopped_selection_run_gives_its_time_when_it_got_past_it():
    finished = {"clients": 10000, "train_samples": 1600000, "original": [0.3, 0.4], "fucrt": [0.35], "not": [0.3],
                "selection": [251.5], "sampled_selection": [2.0], "peak_gib": [11.5], "wall": [399.0]}
    past = dict(finished, all_clients={"unfinished": True, "wall": 900.4, "selection": 251.5, "last": "x"})
    cells = [c.strip() for c in table_row(past).split("|")[1:-1]]
    assert cells[5] == "251.50 (from the times of its progress lines; the run was stopped after 900 s, past it)"
    assert cells[6] == "2.00 / 2.00 / 2.00"
    before = dict(finished, all_clients={"unfinished": True, "wall": 900.4, "selection": None,
                                         "last": "fucrt: selection round, asking 10,000 clients"})
    cells = [c.strip() for c in table_row(before).split("|")[1:-1]]
    assert cells[5] == ("not finished: stopped (Ctrl-C) after 900 s; last progress line: "
                        "`fucrt: selection round, asking 10,000 clients`")
    stopped = {"clients": 10000, "unfinished": True, "wall": 905.0, "peak_gib": 9.0, "last": "original round 2/6"}
    cells = [c.strip() for c in table_row(stopped).split("|")[1:-1]]
    assert cells[:2] == ["10000", "1600000"] and cells[-2:] == ["9.00", "905"]


def test_each_client_holds_the_same_data_and_ten_are_sampled_per_round():
    keys = overrides(1000)
    assert "synthetic-samples=200000" in keys and "num-clients=1000" in keys and "fraction-train=0.01" in keys
    assert "fucrt[fucrt-select-fraction=0.1]" in keys and "mia-samples=2000" in keys


def test_the_reading_gives_the_selection_per_client_asked():
    def row(n, selection):
        return {"clients": n, "train_samples": 160 * n, "original": [0.1], "fucrt": [0.2], "not": [0.1],
                "selection": [selection], "sampled_selection": [1.0], "peak_gib": [3.0], "wall": [10.0]}
    control = dict(row(10, 0.5), train_samples=1_600_000)
    lines = reading([row(10, 0.08), row(1000, 16.0), row(10000, 200.0), control])
    per_client = [line for line in lines if line.startswith("- **Per client asked**")]
    assert per_client and "16 ms at 1,000, 20 ms at 10,000 clients" in per_client[0]


def test_the_reading_says_so_when_the_selection_grows_faster_than_the_clients():
    def row(n, selection):
        return {"clients": n, "train_samples": 160 * n, "original": [0.1], "fucrt": [0.2], "not": [0.1],
                "selection": [selection], "sampled_selection": [1.0], "peak_gib": [3.0], "wall": [10.0]}
    control = dict(row(10, 0.5), train_samples=1_600_000)
    lines = reading([row(10, 0.08), row(1000, 16.0), row(10000, 800.0), control])  # 16 ms, then 80 ms a client
    per_client = [line for line in lines if line.startswith("- **Per client asked**")][0]
    assert "16 ms at 1,000, 80 ms at 10,000 clients" in per_client
    assert "5.0 times as much a client at 10,000 as at 1,000" in per_client and "scan" in per_client
