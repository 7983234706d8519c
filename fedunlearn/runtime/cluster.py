"""Check a ``ray-address`` before a run depends on it.

``ray.init(address=...)`` at an address where no Ray cluster answers retries for ever and ignores SIGTERM;
a cluster of another Ray version fails late. :func:`check_ray_address` finds out in a probe process first:
nothing listening fails at once, anything else within :data:`PROBE_SECONDS`, with one line naming the
address and what was found.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from fedunlearn.config import ConfigError

PROBE_SECONDS = 30.0
_PROBE = """
import sys
import ray
try:
    ray.init(address=sys.argv[1], logging_level="error", log_to_driver=False, include_dashboard=False)
except Exception as exc:
    print(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
    sys.exit(1)
print(ray.__version__)
"""


def check_ray_address(address: str, timeout: float | None = None) -> None:
    """Raise :class:`ConfigError` unless a Ray cluster that this Ray can join answers at ``address``
    (``host:port`` or ``auto``; empty or ``local``: nothing to check)."""
    if address in ("", "local"):
        return
    timeout = PROBE_SECONDS if timeout is None else timeout
    if address != "auto" and not address.startswith("ray://"):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"ray-address = {address!r}: must be host:port (the head node's GCS address, as "
                              f"`ray start --head` prints it), 'auto', or empty for a local Ray")
        try:
            socket.create_connection((host, int(port)), timeout=min(5.0, timeout)).close()
        except OSError as exc:
            raise ConfigError(f"ray-address = {address!r}: nothing answers there ({exc.strerror or exc}); start a "
                              f"head node with `ray start --head --port {port}`, or leave ray-address empty for a "
                              f"local Ray") from None
    probe = subprocess.Popen([sys.executable, "-c", _PROBE, address], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        out, err = probe.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(probe.pid, signal.SIGKILL)  # Ray's retries ignore SIGTERM
        probe.communicate()
        raise ConfigError(f"ray-address = {address!r}: something listens there, but no Ray cluster answered within "
                          f"{timeout:.0f} s (is it a Ray head node's GCS port?)") from None
    if probe.returncode != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        raise ConfigError(f"ray-address = {address!r}: joining the cluster failed: "
                          f"{lines[-1] if lines else f'exit code {probe.returncode}'}")
