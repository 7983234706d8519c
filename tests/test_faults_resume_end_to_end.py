"""Faults, resume and the reference cache through real Ray simulations."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from test_end_to_end import SMALL, _numbers  # a small class-deletion experiment; every number of a report

from fedunlearn.cli import main
from fedunlearn.runtime.faults import fault_for


def _comparable(report):
    """Every number of every model except measured wall time."""
    return {name: {k: v for k, v in _numbers({"metrics": e["metrics"], "cost": e["cost"], "history": e["history"]})
                   .items() if "seconds" not in k}
            for name, e in report["models"].items()}


FAULTY = ("dataset='digits' model='mlp' num-clients=4 partitioner='iid' num-server-rounds=4 local-epochs=1 "
          "forget-class=3 unlearn-methods='finetune,fucrt' unlearn-rounds=2 fucrt-min-samples=3 seed=13 "
          "fault-rate=0.25 round-retries=1 round-timeout=60 round-deadline-floor=3 client-cpus=0.5")  # a hang waits for the deadline


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_failed_clients_are_left_out_and_counted_per_phase_and_min_clients_stops_the_run(tmp_path, capsys):
    config = {"fault-rate": 0.25, "seed": 13}
    plan = {"original": [("train", r) for r in range(1, 5)], "retrain": [("train", r) for r in range(1, 5)],
            "finetune": [("train", r) for r in range(1, 3)], "fucrt": [("train.fucrt", r) for r in range(1, 3)]}

    def fails(phase, kind, r, c, attempt=0):
        return fault_for({**config, "phase": phase, "server-round": r, "attempt": attempt}, c, kind) is not None

    # A round asks a failed client once more (round-retries = 1); it is left out if that fails too.
    retried = {p: sum(fails(p, k, r, c) for k, r in steps for c in range(4)) for p, steps in plan.items()}
    expected = {p: sum(fails(p, k, r, c) and fails(p, k, r, c, 1) for k, r in steps for c in range(4))
                for p, steps in plan.items()}
    # FUCRT's selection round is retried the same way (a query: its retries are not client trainings).
    retried["fucrt"] += sum(fails("fucrt", "query.fucrt_select", 0, c) for c in range(4))
    expected["fucrt"] += sum(fails("fucrt", "query.fucrt_select", 0, c) and fails("fucrt", "query.fucrt_select", 0, c, 1)
                             for c in range(4))
    assert all(n > 0 for n in retried.values()) and sum(expected.values()) > 0
    assert main(["run", "--run-config", FAULTY, "--out", str(tmp_path / "faulty")]) == 0
    report = json.loads((tmp_path / "faulty" / "report.json").read_text())
    for phase in plan:
        cost = report["models"][phase]["cost"]
        assert (cost["failures"], cost["retries"]) == (expected[phase], retried[phase]), phase
    assert report["models"]["original"]["metrics"]["test_acc"] > 0.7  # it still learned
    assert "| failures | retries |" in (tmp_path / "faulty" / "report.md").read_text()

    capsys.readouterr()
    strict = f"{FAULTY} min-clients=4 round-retries=0"
    assert main(["run", "--run-config", strict, "--out", str(tmp_path / "strict")]) == 1
    err = capsys.readouterr().err
    assert "fedunlearn: run failed: ClientFailure: original, round" in err and "fewer than min-clients = 4" in err
    assert not (tmp_path / "strict" / "report.json").exists()
    assert (tmp_path / "strict" / "checkpoints").is_dir()  # kept for --resume


def _start(config, out):
    """``fedunlearn run`` as a user starts it: the command supervises a child process in its own session."""
    proc = subprocess.Popen([sys.executable, "-m", "fedunlearn", "run", "--run-config", config, "--out", str(out)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not psutil.Process(proc.pid).children():
        assert time.monotonic() < deadline, "the command started no child"
        time.sleep(0.01)
    return proc, psutil.Process(proc.pid).children()[0].pid


def _wait_for(proc, condition, what):
    deadline = time.monotonic() + 180
    while not condition():
        assert proc.poll() is None and time.monotonic() < deadline, f"the run ended before {what}"
        time.sleep(0.01)


def _left_in_session(sid):
    """Live processes of session ``sid`` (a zombie is dead: it only waits for a parent to read its status)."""
    return [p for p in psutil.process_iter() if _session(p) == sid and p.status() != psutil.STATUS_ZOMBIE]


def _resumes_to(cut, whole, capsys):
    capsys.readouterr()
    assert main(["run", "--resume", str(cut)]) == 0
    first, resumed = (json.loads((d / "report.json").read_text()) for d in (whole, cut))
    expected, got = _comparable(first), _comparable(resumed)
    assert got.keys() == expected.keys()
    for model in expected:
        assert got[model] == pytest.approx(expected[model], abs=1e-6), model
    assert not (cut / "checkpoints").exists()  # removed once the report is written
    assert main(["run", "--resume", str(cut)]) == 2  # finished: nothing to resume


@pytest.fixture
def uninterrupted(small_run):
    """The small experiment run once, start to end, storing its original and reference in a cache (conftest.py)."""
    return small_run


@pytest.mark.e2e
@pytest.mark.timeout(500)
def test_ctrl_c_stops_everything_at_once_and_a_kill_while_writing_the_report_leaves_a_resumable_run(
        tmp_path, capsys, uninterrupted):
    config = f"{SMALL} cache-dir=''"  # every run trains its own reference
    whole = uninterrupted / "run"

    # Every resumed run below must reproduce every number of the uninterrupted one (to 1e-6): the same
    # configuration and seed give the same metrics however Ray's parallel workers interleave.
    # Ctrl-C in the middle of the reference: within seconds, exit 130, one line naming the resume command,
    # no traceback, nothing of the run left running.
    cut = tmp_path / "cut"
    proc, child = _start(config, cut)
    _wait_for(proc, lambda: list(cut.glob("checkpoints/seed-0/retrain-*.round.pt")), "the reference started")
    os.kill(proc.pid, signal.SIGINT)
    start = time.monotonic()
    err = proc.communicate(timeout=20)[1]
    assert proc.returncode == 130 and time.monotonic() - start < 10
    assert err.strip().splitlines()[-1] == f"fedunlearn: interrupted; the run's checkpoints are kept; continue with: " \
                                           f"fedunlearn run --resume {cut}"
    assert "Traceback" not in err and "SIGTERM" not in err
    assert not _left_in_session(child), "a process of the run outlived Ctrl-C"
    assert not (cut / "report.json").exists() and (cut / "config.json").exists()
    _resumes_to(cut, whole, capsys)

    # kill -9 of the whole run while it writes its report: the files are whole or absent, and --resume
    # completes the report.
    killed = tmp_path / "killed"
    proc, child = _start(config, killed)
    _wait_for(proc, lambda: (killed / "plots").exists(), "it wrote its report")
    for group in (child, proc.pid):
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:  # the command saw its child die and ended first
            pass
    proc.communicate(timeout=20)
    time.sleep(1)
    assert not _left_in_session(child) and not _left_in_session(proc.pid)
    assert not list(killed.rglob(".*.tmp*")) or not (killed / "report.json").exists()
    if (killed / "report.json").exists():  # the kill came after the marker: a finished run, every file there,
        assert (killed / "report.md").exists()  # the numbers of the uninterrupted run, and nothing to resume
        expected, got = (_comparable(json.loads((d / "report.json").read_text())) for d in (whole, killed))
        assert got.keys() == expected.keys()
        for model in expected:
            assert got[model] == pytest.approx(expected[model], abs=1e-6), model
        capsys.readouterr()
        assert main(["run", "--resume", str(killed)]) == 2
        assert "finished" in capsys.readouterr().err
    else:
        _resumes_to(killed, whole, capsys)


def _session(process):
    try:
        return os.getsid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_a_second_experiment_reuses_the_cached_original_and_reference_and_says_so(tmp_path, capsys, uninterrupted):
    cache = uninterrupted / "cache"
    other = SMALL.replace("unlearn-methods='finetune' unlearn-rounds=2", "unlearn-methods='head-tilt' unlearn-rounds=1")
    capsys.readouterr()
    assert main(["run", "--run-config", f"{other} cache-dir='{cache}'", "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "retrain: reused from the cache" in err and "original: reused from the cache" in err
    a, b = (json.loads(path.read_text()) for path in (uninterrupted / "run" / "report.json",
                                                       tmp_path / "b" / "report.json"))
    for model in ("original", "retrain"):
        assert a["models"][model]["details"]["0"]["cache"] == "trained"
        assert b["models"][model]["details"]["0"]["cache"] == "reused"
        assert _comparable(b)[model] == _comparable(a)[model]
    assert "reused from the cache" in (tmp_path / "b" / "report.md").read_text()
    assert "Measured on:" in (tmp_path / "b" / "report.md").read_text() and "flwr " in b["environment"]
    # The reference and the per-example attack's reference federation (replicate 2), one original: all reused.
    assert len(list((cache / "reference").glob("*.pt"))) == 2 and len(list((cache / "original").glob("*.pt"))) == 1
