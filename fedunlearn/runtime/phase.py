"""What producing a model cost: rounds, client trainings, bytes exchanged and wall seconds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Cost:
    """Accumulated cost of one phase (training, retraining or one unlearning method).

    ``client_rounds`` counts client trainings (one client doing its local work in one round);
    ``bytes_down``/``bytes_up`` count the model payload (array bytes) sent to and received from clients;
    ``failures`` counts clients left out of a round (an error or no answer, after any retries);
    ``retries`` counts requests sent again to clients that had failed (also in ``client_rounds``).
    """

    rounds: int = 0
    client_rounds: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    seconds: float = 0.0
    failures: int = 0
    retries: int = 0

    def add(self, other: "Cost") -> "Cost":
        return Cost(**{k: getattr(self, k) + getattr(other, k) for k in asdict(self)})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PhaseResult:
    """A federated phase's outcome: the final model (a Flower ArrayRecord), its cost, and per-round history."""

    arrays: object
    cost: Cost
    history: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # reported: JSON-ready facts about the phase
    kept: dict = field(default_factory=dict)  # not reported: state a later method needs (a client's model)
    # A cost paid once for every later request, apart from this request's cost (WF-Net's filters, GENIU's
    # generator): reported beside it, not added to it.
    one_off: Cost | None = None
