"""When a round stops waiting for its clients: a deadline that follows the federation.

A round's clients are *clearly late* once they take several times longer than answers have taken so far.
:class:`AnswerClock` keeps, for an experiment, the slowest answer time of the last round of each kind of
client work (``train``, ``train.fucrt``, ``query.fucrt_select``...) and how many messages that round sent.
A round's deadline, in seconds after it was sent, is ``min(round-timeout, max(round-deadline-floor,
round-deadline-factor x typical))``, where ``typical`` is that time, scaled up in proportion when the round
sends more messages (in a simulation, clients queue for the workers). A round that sent fewer messages than
the one on record (a retry) does not replace it. Before anything has been seen (the experiment's first
round), ``round-timeout`` holds until half the round's clients have answered, and then the same formula
applies to twice the median answer time (in a simulation with fewer workers than clients, answers arrive
one worker-slot after another, so the last honest answer comes about twice as late as the median), with a
floor :data:`FIRST_ROUND_FLOOR` times higher: a kind's first round pays one-off costs (a worker loading its
data, a first call into a library) that later rounds do not.
``round-timeout`` is the hard cap throughout; ``round-deadline-factor = 0`` keeps it as the only deadline.

Pure bookkeeping: the server's polling loop (``strategies/fedavg.py``) asks it and tells it what arrived.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

FIRST_ROUND_FLOOR = 5.0  # a kind of work's first round: its floor is this many times round-deadline-floor


@dataclass(frozen=True)
class DeadlinePolicy:
    hard_cap: float  # round-timeout
    factor: float  # round-deadline-factor; 0: always the hard cap
    floor: float  # round-deadline-floor

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DeadlinePolicy":
        return cls(config["round-timeout"], config["round-deadline-factor"], config["round-deadline-floor"])

    def bound(self, typical: float, floor: float | None = None) -> float:
        """The deadline for answers that typically take ``typical`` seconds."""
        return min(self.hard_cap, max(self.floor if floor is None else floor, self.factor * typical))


@dataclass
class AnswerClock:
    """Answer times seen in one experiment, and the deadlines they imply."""

    policy: DeadlinePolicy
    slowest: dict[str, tuple[float, int]] = field(default_factory=dict)  # kind -> (slowest answer, messages sent)

    def known(self, kind: str, sent: int) -> float | None:
        """How long the slowest of ``sent`` answers of ``kind`` should take, from the round on record for
        ``kind``; None for a kind not seen yet (its cost may differ from any other's: one client ascending for
        many steps, a forward pass over every sample...)."""
        record = self.slowest.get(kind)
        if record is None:
            return None
        seconds, recorded_sent = record
        return seconds * max(1.0, sent / max(1, recorded_sent))

    def deadline(self, kind: str, sent: int, answer_times: Sequence[float] = ()) -> float:
        """Seconds after sending at which a round of ``sent`` messages of ``kind`` stops waiting, given the
        times (seconds after sending) of the answers that arrived so far."""
        if self.policy.factor <= 0:
            return self.policy.hard_cap
        typical = self.known(kind, sent)
        if typical is not None:
            return self.policy.bound(typical)
        if sent and len(answer_times) * 2 >= sent:
            return self.policy.bound(2 * statistics.median(answer_times), FIRST_ROUND_FLOOR * self.policy.floor)
        return self.policy.hard_cap

    def record(self, kind: str, sent: int, answer_times: Sequence[float]) -> None:
        """A round of ``sent`` messages of ``kind`` ended with answers at ``answer_times`` (failed clients
        leave no time). It goes on record unless the round on record sent more messages."""
        if answer_times and sent >= self.slowest.get(kind, (0.0, 0))[1]:
            self.slowest[kind] = (max(answer_times), sent)
