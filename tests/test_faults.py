"""Simulated faults: a reproducible draw at the configured rate, and the two ways to fail."""

import time

import pytest

from fedunlearn.runtime.faults import InjectedFault, fault_for, inject


def _config(rate, **extra):
    return {"fault-rate": rate, "seed": 0, "phase": "original", "server-round": 1, "round-timeout": 0.2, **extra}


def test_no_faults_at_rate_zero_and_the_rate_is_what_is_asked():
    assert all(fault_for(_config(0.0), c, "train") is None for c in range(1000))
    draws = [fault_for(_config(0.2, **{"server-round": r}), c, "train") for r in range(50) for c in range(100)]
    share = sum(d is not None for d in draws) / len(draws)
    assert share == pytest.approx(0.2, abs=0.02)
    hangs = sum(d == "hang" for d in draws) / sum(d is not None for d in draws)
    assert hangs == pytest.approx(0.5, abs=0.05)


def test_the_draw_is_reproducible_and_differs_by_round_client_and_message():
    first = [fault_for(_config(0.5), c, "train") for c in range(200)]
    assert first == [fault_for(_config(0.5), c, "train") for c in range(200)]
    assert first != [fault_for(_config(0.5, **{"server-round": 2}), c, "train") for c in range(200)]
    assert first != [fault_for(_config(0.5), c, "train.fucrt") for c in range(200)]
    assert first != [fault_for(_config(0.5, attempt=1), c, "train") for c in range(200)]


def test_neighbouring_rounds_draw_independently():
    """A client that failed in round r fails in round r + 1 with the same chance as any client."""
    fails = [[fault_for(_config(0.3, seed=1, **{"server-round": r}), c, "train") is not None for r in range(40)]
             for c in range(50)]
    after_failure = [row[r + 1] for row in fails for r in range(39) if row[r]]
    assert sum(after_failure) / len(after_failure) == pytest.approx(0.3, abs=0.07)


def test_a_raise_and_a_hang_both_answer_at_once_and_a_hang_says_so():
    """A hang answers at once with a reason the server takes for no answer (it then waits for its deadline):
    a sleeping client would hold its simulated worker and every client queued behind it."""
    from fedunlearn.runtime.faults import HANG

    config = _config(0.9)
    raising = next(c for c in range(100) if fault_for(config, c, "train") == "raise")
    hanging = next(c for c in range(100) if fault_for(config, c, "train") == "hang")
    fine = next(c for c in range(100) if fault_for(config, c, "train") is None)
    inject(config, fine, "train")
    start = time.monotonic()
    with pytest.raises(InjectedFault, match="injected fault \\(raise\\)"):
        inject(config, raising, "train")
    with pytest.raises(InjectedFault) as hang:
        inject(config, hanging, "train")
    assert HANG in str(hang.value) and time.monotonic() - start < 0.1
