"""The errors fedunlearn reports to its users. Each message is one line, fit for a user."""

from __future__ import annotations


class FedunlearnError(Exception):
    """Every error fedunlearn reports: catch this one to catch them all."""


class ConfigError(FedunlearnError, ValueError):
    """An experiment configuration that cannot run: the message names the key, the value given and what is
    allowed. Raised before anything runs or is written."""


class RunFailed(FedunlearnError, RuntimeError):
    """The run stopped before its report (a client failure below min-clients, an error in a phase); its
    checkpoints are kept for ``--resume``."""


class Interrupted(FedunlearnError):
    """The run was interrupted (Ctrl-C, SIGTERM); the message says how to go on."""
