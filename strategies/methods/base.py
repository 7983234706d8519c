"""The interface every unlearning method implements on the server side."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from fedunlearn.config import Key
from fedunlearn.runtime.phase import PhaseResult

if TYPE_CHECKING:
    from ..session import FederatedSession


class UnlearningMethod(ABC):
    """Turns the original global model into an unlearned one, using the federation through a session.

    Subclasses set ``name`` (what ``unlearn-methods`` calls it) and ``request_kinds`` (the deletion
    requests it can serve) and implement :meth:`unlearn`, naming their phases ``self.label``. The
    session they get carries the method's own configuration (a variant's overrides included). The cost they report is what the session's
    strategies counted; a method that does extra work outside them adds it to the returned cost.
    """

    name: ClassVar[str]
    request_kinds: ClassVar[frozenset[str]]
    # A method from another package declares its own keys here (each named "<name>-..."); built-in methods'
    # keys live in fedunlearn/config.py.
    config_keys: ClassVar[dict[str, "Key"]] = {}
    # Whether the method works on one client (gradient ascent, L2UL): a sample request must then name
    # samples that one client holds.
    needs_one_target: ClassVar[bool] = False

    def __init__(self, config: Mapping[str, Any], label: str | None = None) -> None:
        self.config = config
        self.label = label or self.name  # a variant's label, e.g. fucrt[fucrt-lambda-local=0]

    @classmethod
    def check(cls, config: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> None:
        """Method-specific checks before anything runs; raise ConfigError. Most methods need none."""

    @classmethod
    def recorder(cls, config: Mapping[str, Any], directory: Path | None = None, label: str | None = None):
        """What this method needs recorded, or trained beside the classifier, while the original model
        trains (None: nothing). The object's ``record(server_round, sent_arrays, replies)`` sees every
        original round; the method finds it again in ``original.kept["recorders"][label]``. It keeps its
        records in ``directory`` (a run's checkpoint folder: a resumed run reopens them; None: a temporary
        folder); ``close()`` is called when the seed has finished and removes them.

        A recorder that also trains something on the clients during those rounds (GENIU's generator) has an
        ``action`` (the original rounds then send ``train.<action>``, whose handler trains the classifier
        exactly as plain training does, and the rest beside it) and ``content()``, the records it adds to
        every training message; its ``record`` takes its own records out of the replies before FedAvg sees them."""
        return None

    @abstractmethod
    def unlearn(self, session: "FederatedSession", original: PhaseResult) -> PhaseResult:
        """Return the unlearned model, its cost and its per-round history."""
