"""NoT and the weight perturbations of its ablation, server side.

NoT (Khalil et al., CVPR 2025): the server negates chosen layers of the original global model, then
federated fine-tuning on retained data for ``unlearn-rounds`` (a deleted client takes no part; in class
and sample requests every client trains on its retained data). The ablation's perturbations replace
the negation and keep the fine-tuning: ``not-all``, ``not-last``, ``noise`` (Gaussian of the same
per-layer norm), ``reinit`` (fresh initialisation). Clients do plain local training: no client handler.
The algorithms are pure functions in ``fedunlearn/algorithms/negation.py``.
"""

from __future__ import annotations

from abc import abstractmethod

from flwr.app import ArrayRecord

from fedunlearn.algorithms import negation
from fedunlearn.config import ConfigError
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed
from fedunlearn.runtime.phase import PhaseResult

from . import register
from .base import UnlearningMethod


class WeightPerturbation(UnlearningMethod):
    """Perturb some layers of the original model, then fine-tune on retained data."""

    request_kinds = frozenset({"class", "client", "sample", "sequential"})
    layers_spec: str | None = None  # None: the `not-layers` key decides

    @classmethod
    def check(cls, config, input_shape, num_classes) -> None:
        try:
            negation.select_parameters(build_model(config["model"], input_shape, num_classes),
                                       cls.layers_spec or config["not-layers"], config["not-negate-bias"])
        except ValueError as exc:
            raise ConfigError(f"not-layers = {config['not-layers']!r}: {exc}") from None

    def model(self):
        data = Federation.from_config(self.config).data
        return build_model(self.config["model"], data.input_shape, data.num_classes)

    def parameters(self, model) -> list[str]:
        return negation.select_parameters(model, self.layers_spec or self.config["not-layers"],
                                          self.config["not-negate-bias"])

    @abstractmethod
    def perturb(self, state: dict, names: list[str], model) -> dict:
        """The perturbed parameters."""

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        model = self.model()
        names = self.parameters(model)
        perturbed = self.perturb(original.arrays.to_torch_state_dict(), names, model)
        session.progress.message(f"{self.label}: perturbed {', '.join(names)}")
        result = session.run_phase(self.label, ArrayRecord(perturbed), self.config["unlearn-rounds"], view="retain")
        result.details = {"perturbed_parameters": names}
        return result


@register
class NoT(WeightPerturbation):
    """NoT (Khalil et al., CVPR 2025): negate the layers `not-layers` names (default: the first), then fine-tune."""

    name = "not"

    def perturb(self, state, names, model):
        return negation.negate(state, names)


@register
class NoTAll(NoT):
    """NoT's ablation: negate every layer, then fine-tune."""

    name = "not-all"
    layers_spec = "all"


@register
class NoTLast(NoT):
    """NoT's ablation: negate the last layer, then fine-tune."""

    name = "not-last"
    layers_spec = "last"


@register
class Noise(WeightPerturbation):
    """Replace the `not-layers` layers by Gaussian noise of the same per-tensor norm."""

    name = "noise"

    def perturb(self, state, names, model):
        return negation.gaussian_like(state, names, derive_seed(self.config["seed"], self.label))


@register
class Reinit(WeightPerturbation):
    """Re-initialise the `not-layers` layers (a fresh model's values, seeded)."""

    name = "reinit"

    def perturb(self, state, names, model):
        data = Federation.from_config(self.config).data
        fresh = build_model(self.config["model"], data.input_shape, data.num_classes,
                            seed=derive_seed(self.config["seed"], self.label))
        return negation.reinitialise(state, names, fresh.state_dict())
