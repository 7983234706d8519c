"""FedEraser (Liu et al., IWQoS 2021), server side. Client requests.

While the original model trains, every client's update of every ``federaser-interval``-th round is
written to disk (bounded by ``federaser-max-mb``). Unlearning replays the recorded rounds without the
deleted client, starting from the initial global model: the remaining clients train for a fraction
(``federaser-calibration``) of the local epochs from the new global model, and each calibrated update is
rescaled to the length of the same client's recorded update before the sample-weighted average.
Clients do plain local training: no client handler. Store and rule: ``fedunlearn/algorithms/federaser.py``.
"""

from __future__ import annotations

import math

import numpy as np
from flwr.app import Array, ArrayRecord

from fedunlearn.algorithms.federaser import UpdateStore, recorded_rounds, rescale
from fedunlearn.config import ConfigError
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


class FedEraserStrategy(AccountedFedAvg):
    """Round j replays recorded round t_j: calibrated updates rescaled to the recorded lengths."""

    def __init__(self, recorder: UpdateRecorder, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder

    def aggregate_models(self, server_round, replies):
        recorded_round = self.recorder.rounds[server_round - 1]
        recorded = self.recorder.store.rounds.get(recorded_round, {})
        sent = _numpy(self.sent)
        total, step = 0.0, {k: np.zeros_like(v, dtype=np.float64) for k, v in sent.items() if v.dtype.kind == "f"}
        for reply in replies:
            client = int(reply.content["metrics"]["partition-id"])
            if client not in recorded:
                continue  # not sampled in the recorded round: no length to calibrate to
            local = _numpy(reply.content["arrays"])
            calibrated = rescale({k: local[k] - sent[k] for k in step}, self.recorder.store.load(recorded_round, client))
            for k in step:
                step[k] += recorded[client] * calibrated[k]
            total += recorded[client]
        if total == 0:
            return None, None
        new = {k: (sent[k] + step[k] / total).astype(sent[k].dtype) if k in step else sent[k] for k in sent}
        metrics = aggregate_train_metrics([m.content for m in replies], self.weighted_by_key)
        return ArrayRecord({k: Array(v) for k, v in new.items()}), metrics


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
    def recorder(cls, config, directory=None) -> UpdateRecorder:
        return UpdateRecorder(config, directory)

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        recorder = original.kept["recorders"][self.label]
        calibration_epochs = max(1, math.ceil(self.config["local-epochs"] * self.config["federaser-calibration"]))
        strategy = FedEraserStrategy(
recorder, **{**session.strategy_kwargs(self.label, "retain"), "fraction_train": 1.0})
        result = session.run_phase(self.label, recorder.initial, len(recorder.rounds), view="retain",
                                   strategy=strategy, **{"local-epochs": calibration_epochs})
        result.details = {"recorded_rounds": recorder.rounds, "storage_bytes": recorder.store.bytes,
                          "calibration_epochs": calibration_epochs}
        return result
