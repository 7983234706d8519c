"""GENIU (Zhang et al., arXiv 2406.07885), server side: class unlearning from generated proxies. Class
requests (the paper's case: the majority class of imbalanced data).

1. The proxy generator, a VAE, trains *concurrently* with the classifier: while the original model trains,
   every round's messages carry the generator beside the model (``train.geniu``); each client trains the
   classifier exactly as plain training does and, beside it, the generator toward its own least certain
   sample of every class it holds (under the classifier it received). The server averages the classifier
   as FedAvg does and the generator by sample count. The generator's bytes and its clients' seconds are a
   *one-off* cost, reported apart.
2. The request, served by the server alone: ``geniu-proxies`` proxies of every class from the generator,
   ``geniu-tuning-steps`` steps on that one mini-batch, cross-entropy on the retained classes' proxies and
   1 / cross-entropy on the forgotten class's. 0 client trainings, 0 bytes.

The algorithm is in ``fedunlearn/algorithms/geniu.py``; the client side in ``clients/handlers/geniu.py``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord

from fedunlearn.algorithms.geniu import average_generators, build_generator, in_batch_tuning, proxies
from fedunlearn.data.federation import Federation
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import derive_seed
from fedunlearn.runtime.phase import Cost, PhaseResult

from ..fedavg import payload_bytes
from . import register
from .base import UnlearningMethod

ACTION = "geniu"


def record_name(label: str) -> str:
    """The name of a GENIU variant's generator in the training messages (its config: ``<name>-config``)."""
    return f"generator-{derive_seed(label) % 10**6:06d}"


class GeneratorCompanion:
    """The generator that trains beside the original model: sent in every round, averaged from the replies.
    Its state after each round is kept in ``directory`` (a resumed run continues from it)."""

    action = ACTION

    def __init__(self, config, label: str, directory: Path | None = None) -> None:
        data = Federation.from_config(config).data
        self.name = record_name(label)
        self.settings = ConfigRecord({"steps": config["geniu-generator-steps"],
                                      "seed": derive_seed(config["seed"], label)})
        self.temporary = directory is None
        self.path = Path(tempfile.mkdtemp(prefix="fedunlearn-geniu-")) if directory is None else Path(directory)
        self.path.mkdir(parents=True, exist_ok=True)
        self.cost = Cost()
        self._sent_bytes = 0
        saved = self.path / "generator.npz"
        if saved.exists():
            with np.load(saved, allow_pickle=False) as npz:
                self.state = {k: npz[k] for k in npz.files if not k.startswith("cost.")}
                self.cost = Cost(**{k[5:]: type(getattr(Cost(), k[5:]))(npz[k]) for k in npz.files
                                    if k.startswith("cost.")})
        else:
            generator = build_generator(data.num_classes, data.input_shape, derive_seed(config["seed"], label))
            self.state = {k: v.detach().numpy().copy() for k, v in generator.state_dict().items()}

    def content(self) -> dict:
        """What every training message carries beside the model: the generator and its settings."""
        record = ArrayRecord({k: Array(v) for k, v in self.state.items()})
        self._sent_bytes = payload_bytes(record)
        return {self.name: record, f"{self.name}-config": self.settings}

    def record(self, server_round: int, sent, replies) -> None:
        """Average the clients' generators and count their cost; the generator's records leave the replies, so
        that FedAvg sees the model alone."""
        answers = [m for m in replies if self.name in m.content]
        if not answers:
            return
        trained = [(m.content.pop(self.name), m.content.pop(f"{self.name}-metrics")) for m in answers]
        self.state = average_generators([{k: v.numpy() for k, v in record.items()} for record, _ in trained],
                                        [int(m.content["metrics"]["num-examples"]) for m in answers])
        seconds = max(float(metrics["seconds"]) for _, metrics in trained)
        self.cost = self.cost.add(Cost(client_rounds=len(answers), bytes_down=self._sent_bytes * len(answers),
                                       bytes_up=sum(payload_bytes(record) for record, _ in trained), seconds=seconds))
        tmp = self.path / ".generator.tmp.npz"
        np.savez(tmp, **self.state, **{f"cost.{k}": np.asarray(v) for k, v in self.cost.to_dict().items()})
        tmp.replace(self.path / "generator.npz")

    def close(self) -> None:
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)


def share(hits: np.ndarray) -> float:
    return round(float(np.mean(hits)), 4) if len(hits) else 0.0


@torch.no_grad()
def predicted_labels(model, images: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.from_numpy(np.asarray(images, np.float32))).argmax(1).numpy()


@register
class Geniu(UnlearningMethod):
    """GENIU (Zhang et al., 2024): a VAE proxy generator trained with the classifier; the server unlearns on proxies."""

    name = "geniu"
    request_kinds = frozenset({"class"})

    @classmethod
    def recorder(cls, config, directory=None, label=None) -> GeneratorCompanion:
        return GeneratorCompanion(config, label or cls.name, directory)

    def unlearn(self, session, original: PhaseResult) -> PhaseResult:
        cfg = self.config
        companion: GeneratorCompanion = original.kept["recorders"][self.label]
        start = time.perf_counter()
        data = Federation.from_config(cfg).data
        generator = build_generator(data.num_classes, data.input_shape, derive_seed(cfg["seed"], self.label))
        generator.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in companion.state.items()})
        images, labels = proxies(generator, data.num_classes, cfg["geniu-proxies"],
                                 derive_seed(cfg["seed"], self.label, "proxies"))
        model = build_model(cfg["model"], data.input_shape, data.num_classes)
        model.load_state_dict(original.arrays.to_torch_state_dict())
        forgotten = labels == session.request.forget_class
        before = predicted_labels(model, images)
        losses = in_batch_tuning(model, images, labels, session.request.forget_class, cfg["geniu-tuning-steps"],
                                 cfg["geniu-learning-rate"])
        after = predicted_labels(model, images)
        arrays = ArrayRecord(model.state_dict())
        return PhaseResult(arrays=arrays, cost=Cost(seconds=time.perf_counter() - start),
                           history=session.before_and_after(original.arrays, arrays), one_off=companion.cost,
                           details={"tuning_losses": [round(x, 4) for x in losses],
                                    "proxies": int(len(labels)),
                                    # how far the proxies stand for their classes, and what tuning did to them
                                    "proxy_acc_before": share(before == labels),
                                    "forgotten_proxy_acc_after": share(after[forgotten] == labels[forgotten]),
                                    "retained_proxy_acc_after": share(after[~forgotten] == labels[~forgotten])})
