"""FedEraser (Liu et al., IWQoS 2021), server side. Client requests.

While the original model trains, every client's update of every ``federaser-interval``-th round is
written to disk (bounded by ``federaser-max-mb``). Unlearning replays the recorded rounds without the
deleted client: the first recorded round exactly (the initial model plus the remaining clients' averaged
recorded update, no client asked), then one calibration round per later recorded round, in which the
remaining clients train for a fraction (``federaser-calibration``) of the local epochs from the new global
model and, layer by layer, their averaged update takes the length of their averaged recorded update.
Clients do plain local training: no client handler. Store and rule: ``fedunlearn/algorithms/federaser.py``.
"""

from __future__ import annotations

import math

import numpy as np
from flwr.app import Array, ArrayRecord

from fedunlearn.algorithms.federaser import UpdateStore, average, calibrated_step, first_round, recorded_rounds
from fedunlearn.config import ConfigError
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import build_model
from fedunlearn.runtime.phase import PhaseResult

from ..fedavg import AccountedFedAvg, aggregate_train_metrics
from . import register
from .base import UnlearningMethod


def _numpy(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in record.items()}


class UpdateRecorder:
    """Writes each client's update (local model - global model sent) of the recorded rounds to disk."""

    def __init__(self, config, directory=None) -> None:
        self.rounds = recorded_rounds(config["num-server-rounds"], config["federaser-interval"])
        self.store = UpdateStore(int(config["federaser-max-mb"] * 2**20), directory)
        initial = self.store.path / "initial.npz"
        self.initial: ArrayRecord | None = None
        if initial.exists():  # a resumed run: the store holds what was recorded before
            self.initial = ArrayRecord({k: Array(v) for k, v in self.store.load_file(initial).items()})

    def record(self, server_round: int, sent: ArrayRecord, replies) -> None:
        if server_round == 1:
            self.initial = sent
            self.store.save_file(self.store.path / "initial.npz", _numpy(sent))
        if server_round not in self.rounds:
            return
        global_state = _numpy(sent)
        for reply in replies:
            local = _numpy(reply.content["arrays"])
            update = {k: (local[k] - global_state[k]) for k in global_state if local[k].dtype.kind == "f"}
            self.store.save(server_round, int(reply.content["metrics"]["partition-id"]), update,
                            int(reply.content["metrics"]["num-examples"]))

    def close(self) -> None:
        self.store.close()


def recorded_average(store: UpdateStore, server_round: int, clients: set[int] | None = None) -> dict | None:
    """The sample-weighted average of the recorded updates of ``server_round`` (of ``clients`` only, when
    given), or None when none of them was recorded."""
    recorded = {c: n for c, n in store.rounds.get(server_round, {}).items() if clients is None or c in clients}
    if not recorded or sum(recorded.values()) == 0:
        return None
    return average([store.load(server_round, c) for c in sorted(recorded)], [recorded[c] for c in sorted(recorded)])


class FedEraserStrategy(AccountedFedAvg):
    """Round j calibrates recorded round t_(j+1): the remaining clients' averaged calibrated update, layer
    by layer, with the length of their averaged recorded update."""

    def __init__(self, recorder: UpdateRecorder, exclude_client: int | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder
        self.exclude_client = exclude_client

    def aggregate_models(self, server_round, replies):
        recorded_round = self.recorder.rounds[server_round]  # the first recorded round was applied exactly
        store = self.recorder.store
        examples = store.rounds.get(recorded_round, {})
        answered = [m for m in replies if int(m.content["metrics"]["partition-id"]) in examples
                    and int(m.content["metrics"]["partition-id"]) != self.exclude_client]
        recorded = recorded_average(store, recorded_round, {int(m.content["metrics"]["partition-id"]) for m in answered})
        if recorded is None:
            return None, None  # no remaining client of the recorded round answered: nothing to calibrate to
        sent = _numpy(self.sent)
        calibrated = average([{k: _numpy(m.content["arrays"])[k] - sent[k] for k in recorded} for m in answered],
                             [examples[int(m.content["metrics"]["partition-id"])] for m in answered])
        metrics = aggregate_train_metrics([m.content for m in replies], self.weighted_by_key)
        return ArrayRecord({k: Array(v) for k, v in calibrated_step(sent, recorded, calibrated).items()}), metrics


@register
class FedEraser(UnlearningMethod):
    """FedEraser (Liu et al., 2021): replay the recorded rounds without the deleted client, calibrated."""

    name = "federaser"
    request_kinds = frozenset({"client"})

    @classmethod
    def check(cls, config, input_shape, num_classes) -> None:
        model = build_model(config["model"], input_shape, num_classes)
        per_update = sum(v.numel() * v.element_size() for v in model.state_dict().values())
        needed = per_update * config["num-clients"] * len(recorded_rounds(config["num-server-rounds"],
                                                                          config["federaser-interval"]))
        if needed > config["federaser-max-mb"] * 2**20:
            raise ConfigError(f"federaser-max-mb = {config['federaser-max-mb']}: recording needs about "
                              f"{needed / 2**20:.0f} MiB; raise it or federaser-interval")

    @classmethod
    def recorder(cls, config, directory=None, label=None) -> UpdateRecorder:
        return UpdateRecorder(config, directory)

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        recorder = original.kept["recorders"][self.label]
        deleted = Federation.from_config(self.config).target_client
        calibration_epochs = max(1, math.ceil(self.config["local-epochs"] * self.config["federaser-calibration"]))
        remaining = set(recorder.store.rounds.get(recorder.rounds[0], {})) - {deleted}
        first = recorded_average(recorder.store, recorder.rounds[0], remaining)
        if first is None:
            raise RuntimeError(f"{self.label}: no remaining client was recorded in round {recorder.rounds[0]}")
        start = ArrayRecord({k: Array(v) for k, v in first_round(_numpy(recorder.initial), first).items()})
        strategy = FedEraserStrategy(recorder, deleted, **{**session.strategy_kwargs(self.label, "retain"),
                                                             "fraction_train": 1.0})
        result = session.run_phase(self.label, start, len(recorder.rounds) - 1, view="retain",
                                   strategy=strategy, **{"local-epochs": calibration_epochs})
        result.details = {"recorded_rounds": recorder.rounds, "storage_bytes": recorder.store.bytes,
                          "calibration_epochs": calibration_epochs, "first_round": "exact"}
        return result
