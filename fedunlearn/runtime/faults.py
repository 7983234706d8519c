"""Simulated client faults (``fault-rate``): which client fails which message, and how.

The draw is a pure function of the experiment seed, the phase, the round, the client and the message
type, so a faulty run is as reproducible as a clean one and a resumed run sees the same faults.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping


class InjectedFault(RuntimeError):
    """A failure the simulation injected on purpose (``fault-rate``)."""


def fault_for(config: Mapping[str, Any], client: int, message_type: str) -> str | None:
    """``None`` (answer normally), ``"raise"`` (answer with an error) or ``"hang"`` (answer too late).

    Each message fails with probability ``fault-rate``; a failure is a raise or a hang with equal odds.
    """
    rate = config["fault-rate"]
    if rate <= 0:
        return None
    parts = (config["seed"], config.get("phase", ""), config.get("server-round", 0), config.get("attempt", 0),
             client, message_type)
    # Two uniform numbers from a cryptographic hash: neighbouring rounds and clients draw independently.
    digest = hashlib.sha256(repr(parts).encode()).digest()
    fails, kind = (int.from_bytes(digest[i:i + 8], "big") / 2**64 for i in (0, 8))
    if fails >= rate:
        return None
    return "raise" if kind < 0.5 else "hang"


HANG = "injected fault (hang)"  # the reason of a hang's reply, which the server takes for no reply at all


def inject(config: Mapping[str, Any], client: int, message_type: str) -> None:
    """Fail as :func:`fault_for` says, at once: a raise answers with an error; a hang answers with an error
    whose reason is :data:`HANG`, which the server treats as *no answer* (``strategies/fedavg.py``), so it
    waits for the client until the round's deadline as it would for a client that hung. Answering at once
    keeps the hang from holding its simulated worker: in a simulation with fewer workers than clients, a
    sleeping client would hold up every client queued behind it, which real clients do not do."""
    fault = fault_for(config, client, message_type)
    if fault is None:
        return
    reason = HANG if fault == "hang" else "injected fault (raise)"
    raise InjectedFault(f"client {client}: {reason} in {config.get('phase')} round {config.get('server-round', 0)} "
                        f"(fault-rate = {config['fault-rate']})")
