"""Run a command's work in a child process of its own, so that Ctrl-C stops everything at once and cleanly.

A simulation is the ServerApp in one thread, Flower's simulation runtime in another and Ray's processes
(GCS, raylet, dashboard, one worker per simulated client slot) beside them. A terminal's Ctrl-C reaches
every process of the foreground group: each of Ray's dies in its own way, the runtime's thread pool prints
tracebacks, and the ServerApp's thread goes on. So the ``fedunlearn`` command runs its work in a child
started in a new session (Ray's processes start inside it and inherit it); Ctrl-C reaches the supervising
parent alone. The first SIGINT or SIGTERM ends the child's whole session: the child itself is killed at once
(everything it writes is written atomically, so nothing is left half-written, and a dying driver would only
print Ray's complaints about its dying workers), then Ray's processes get SIGTERM, and SIGKILL for whatever is
still there after :data:`GRACE` seconds. The parent then prints one line (how to go on) and exits with
128 + the signal. A second Ctrl-C kills at once.

The child tells the parent what it is working on (:func:`announce`): the run directory that
``fedunlearn run --resume`` continues, or the benchmark whose finished cells are kept. A child whose parent
dies (``kill -9`` of the command) ends its session within half a second.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

GRACE = 5.0  # seconds the child's session gets to end after SIGTERM before SIGKILL
_channel = None  # in the child: the pipe to the supervising parent


def announce(**facts: Any) -> None:
    """Tell the supervising parent, if any, a fact about the work (``run_dir=...``, ``bench=...``)."""
    if _channel is not None:
        try:
            _channel.send(facts)
        except (OSError, ValueError):
            pass  # the parent is gone: nobody to tell


def _child(target: Callable[..., int], args: tuple, channel) -> None:
    global _channel
    parent = os.getppid()
    os.setsid()  # a session and process group of its own: the terminal's signals stay with the parent
    _channel = channel
    threading.Thread(target=_die_with, args=(parent,), daemon=True, name="fedunlearn-orphan-watch").start()
    sys.exit(target(*args))


def _die_with(parent: int) -> None:
    """End the child's whole session (Ray's processes too) within half a second of the parent's death: a
    ``kill -9`` of the command must not leave a run going on in the background."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(os.getpgrp(), signal.SIGKILL)


@dataclass
class Outcome:
    """How a supervised child ended: its exit code (128 + the signal when interrupted), what it announced,
    and, when interrupted, the line that was printed."""

    code: int
    facts: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def interrupted(self) -> bool:
        return bool(self.message)


def supervised(target: Callable[..., int], *args: Any, interrupted: Callable[[dict], str]) -> Outcome:
    """Run ``target(*args)`` (an exit code) in a child process and return how it ended.

    On SIGINT or SIGTERM the child's session is stopped and ``interrupted(facts)`` (the facts the child
    announced) gives the one line printed on stderr; the exit code is then 128 + the signal number.
    ``target`` must be importable (the child is spawned, not forked: the parent may hold threads).
    """
    _become_subreaper()
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(target, args, sender), name="fedunlearn")
    received: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: received.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    facts: dict[str, Any] = {}
    try:
        child.start()
        sender.close()
        while child.is_alive() and not received:
            if receiver.poll(0.1):
                try:
                    facts.update(receiver.recv())
                except EOFError:
                    pass
        while receiver.poll(0):  # what the child said just before it ended
            try:
                facts.update(receiver.recv())
            except EOFError:
                break
        if not received:
            child.join()
            return Outcome(child.exitcode if child.exitcode is not None and child.exitcode >= 0 else 1, facts)
        _stop_session(child.pid, received)
        message = interrupted(facts)
        print(f"fedunlearn: {message}", file=sys.stderr, flush=True)
        return Outcome(128 + received[0], facts, message)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_session(pgid: int, received: list[int]) -> None:
    """SIGKILL to the child, SIGTERM to the rest of its group, SIGKILL after GRACE seconds or at a second signal."""
    try:
        os.kill(pgid, signal.SIGKILL)  # the child leads its group: its pid is the group's id
    except ProcessLookupError:
        pass
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while _group_alive(pgid) and time.monotonic() < deadline and len(received) < 2:
        time.sleep(0.05)
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
        while _group_alive(pgid) and time.monotonic() < deadline + GRACE:
            time.sleep(0.05)
    _reap()


def _become_subreaper() -> None:
    """Adopt the child's orphans (Linux): Ray's processes outlive the child for a moment, and where the
    machine's init reaps no zombies a dead one would keep its process group alive."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    _reap()
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _reap() -> None:
    """Collect the exit status of the child (a zombie would keep its process group alive)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
