"""Simulated client faults (``fault-rate``): which client fails which message, and how.

The draw is a pure function of the experiment seed, the phase, the round, the client and the message
type, so a faulty run is as reproducible as a clean one and a resumed run sees the same faults.
"""

from __future__ import annotations

import hashlib
import time
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


def inject(config: Mapping[str, Any], client: int, message_type: str) -> None:
    """Fail as :func:`fault_for` says: raise at once, or hang until the server has stopped waiting and
    then raise. A hang lasts until the round's deadline (``round-deadline``, set by the server) plus
    half a second, else ``round-timeout`` plus a second: it holds its simulated client no longer than
    needed, so that in a simulation with fewer workers than clients it does not delay later rounds."""
    fault = fault_for(config, client, message_type)
    if fault is None:
        return
    if fault == "hang":
        deadline = config.get("round-deadline")
        time.sleep(max(0.0, deadline - time.time()) + 0.5 if deadline else config["round-timeout"] + 1.0)
    raise InjectedFault(f"client {client}: injected fault ({fault}) in {config.get('phase')} round "
                        f"{config.get('server-round', 0)} (fault-rate = {config['fault-rate']})")
