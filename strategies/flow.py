"""The experiment flow, run by the ServerApp:

1. train the original global model with FedAvg;
2. apply the deletion request (clients switch to their retained data);
3. train the reference: FedAvg from scratch on the retained data (same seed, clients, rounds);
4. run each unlearning method from the original model;
5. score every model with the central evaluator and build the report.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from flwr.app import ArrayRecord
from flwr.serverapp import Grid

from fedunlearn import config as cfg
from fedunlearn.data import describe
from fedunlearn.evaluator import Evaluator
from fedunlearn.federation import Federation
from fedunlearn.models import build_model
from fedunlearn.partition import client_partitions
from fedunlearn.progress import Progress
from fedunlearn.report import REFERENCE, build_report
from fedunlearn.training import derive_seed

from . import methods
from .session import FederatedSession


def check_experiment(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a configuration completely, data-dependent checks and partitioning included.

    Cheap (no hub download, no Ray): meant to run before anything expensive. Raises ConfigError.
    """
    config = cfg.validate(values, known_methods=methods.available())
    num_classes, num_train = describe(config)
    cfg.validate_against_data(config, num_classes, num_train)
    if config["dataset"] not in ("mnist", "fashion_mnist", "cifar10"):
        from fedunlearn.data import load_dataset

        client_partitions(load_dataset(config).y_train, config)  # raises ConfigError if it cannot split
    return config


def wait_for_clients(grid: Grid, expected: int, timeout: float = 30.0) -> list[int]:
    """Block until ``expected`` clients are connected; more or fewer after ``timeout`` is an error."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if len(nodes) != expected:
        raise RuntimeError(
            f"num-clients = {expected} but the federation has {len(nodes)} connected clients; "
            f"start as many SuperNodes (simulation: options.num-supernodes) as num-clients"
        )
    return nodes


def initial_model(config: Mapping[str, Any], federation: Federation) -> ArrayRecord:
    """The seeded initial global model shared by the original training and the reference."""
    data = federation.data
    model = build_model(config["model"], data.input_shape, data.num_classes, seed=derive_seed(config["seed"], "init"))
    return ArrayRecord(model.state_dict())


def run_experiment(grid: Grid, config: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    """Steps 1-5 above; returns the report dictionary."""
    federation = Federation.from_config(config)
    wait_for_clients(grid, config["num-clients"])
    session = FederatedSession(grid, config, progress)
    initial = initial_model(config, federation)
    rounds = config["num-server-rounds"]

    phases = {"original": session.run_phase("original", initial, rounds, view="all")}
    phases[REFERENCE] = session.run_phase(REFERENCE, initial, rounds, view="retain")
    for name in cfg.method_names(config):
        if name != REFERENCE:  # the reference is always trained; naming it only adds its row
            phases[name] = methods.get(name)(config).unlearn(session, phases["original"])

    progress.message("evaluating every model on forgotten, retained and test data")
    evaluator = Evaluator(federation, config["model"])
    scored = {name: (evaluator.evaluate(phase.arrays), phase.cost) for name, phase in phases.items()}
    data = {
        "num_classes": federation.data.num_classes,
        "train_samples": int(len(federation.data.y_train)),
        "test_samples": int(len(federation.data.y_test)),
        "forget_samples": int(len(evaluator.sets["forget"])),
        "retain_samples": int(len(evaluator.sets["retain"])),
        "client_samples": [int(len(p)) for p in federation.partitions],
    }
    report = build_report(config, federation.request.to_dict(), scored, data)
    for name, phase in phases.items():
        report["models"][name]["history"] = phase.history
    return report
