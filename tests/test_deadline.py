"""The round deadline that follows the federation (fedunlearn.runtime.deadline), on hand-made answer times."""

import pytest

from fedunlearn.runtime.deadline import AnswerClock, DeadlinePolicy

POLICY = DeadlinePolicy(hard_cap=600.0, factor=3.0, floor=5.0)


def test_before_anything_is_seen_the_hard_cap_holds_until_half_have_answered():
    clock = AnswerClock(POLICY)
    assert clock.deadline("train", sent=10) == 600.0
    assert clock.deadline("train", sent=10, answer_times=[1.0, 2.0, 2.5, 3.0]) == 600.0  # 4 of 10
    # 5 of 10: twice the median (5.0) times the factor 3 = 30 s (above the first round's floor, 25 s).
    assert clock.deadline("train", sent=10, answer_times=[1.0, 2.0, 5.0, 6.0, 7.0]) == pytest.approx(30.0)
    # A first round's floor is 5 times the floor: 25 s here (one-off costs: a worker loading its data).
    assert clock.deadline("train", sent=4, answer_times=[0.1, 0.2]) == 25.0


def test_a_recorded_round_sets_the_next_rounds_deadline():
    clock = AnswerClock(POLICY)
    clock.record("train", sent=10, answer_times=[1.0, 4.0, 6.0])
    assert clock.deadline("train", sent=10) == pytest.approx(18.0)  # 3 x the slowest (6 s)
    assert clock.deadline("train", sent=20) == pytest.approx(36.0)  # twice the messages: twice the queue
    assert clock.deadline("train", sent=2) == pytest.approx(18.0)  # fewer messages: not shortened
    assert clock.deadline("train.ga", sent=1) == 600.0  # a kind not seen: its own first round
    assert clock.deadline("train.ga", sent=1, answer_times=[7.0]) == pytest.approx(42.0)
    clock.record("train.fucrt", sent=10, answer_times=[30.0])
    assert clock.deadline("train.fucrt", sent=10) == pytest.approx(90.0)
    assert clock.deadline("train", sent=10) == pytest.approx(18.0)  # each kind keeps its own


def test_a_retry_does_not_replace_the_full_round_on_record_and_the_cap_holds():
    clock = AnswerClock(POLICY)
    clock.record("train", sent=10, answer_times=[20.0])
    clock.record("train", sent=1, answer_times=[2.0])  # a retry of one client
    assert clock.deadline("train", sent=10) == pytest.approx(60.0)
    clock.record("train", sent=10, answer_times=[])  # nobody answered: nothing to learn
    assert clock.deadline("train", sent=10) == pytest.approx(60.0)
    clock.record("train", sent=10, answer_times=[400.0])
    assert clock.deadline("train", sent=10) == 600.0  # the hard cap


def test_factor_zero_keeps_round_timeout_as_the_only_deadline():
    clock = AnswerClock(DeadlinePolicy(hard_cap=30.0, factor=0.0, floor=5.0))
    clock.record("train", sent=10, answer_times=[1.0])
    assert clock.deadline("train", sent=10, answer_times=[1.0] * 10) == 30.0
