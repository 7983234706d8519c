"""The whole validation of an experiment, before anything expensive runs: every key (``fedunlearn.config``), the
data set, the model against its inputs, each seed's partition, the sample file and every method's own checks.

The public face (``fedunlearn run``, ``fedunlearn bench``, the Python API) and the ServerApp call
:func:`check_experiment`; a bad value is one ConfigError naming the key, the value and what is allowed.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from fedunlearn import config as cfg
from fedunlearn.data.datasets import DATASETS, describe, load_dataset
from fedunlearn.data.partition import client_partitions
from fedunlearn.learning.models import MODELS
from fedunlearn.reporting.seeds import REFERENCE
from fedunlearn.runtime import device

from . import methods


def check_experiment(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a configuration completely, data-dependent checks and partitioning included.

    Loads the data set in this process (a hub data set is downloaded or read from the hub's cache) but
    starts no Ray: meant to run before anything expensive. Raises ConfigError.
    """
    config = cfg.validate(values, known_methods=methods.available())
    device.resolve(config["device"])  # a device torch does not see here: one line, before anything runs
    device.check_client_gpus(config["client-gpus"], config["device"], config["ray-address"])
    DATASETS.get(config["dataset"])  # an unknown data set or model: one line listing the registered ones
    MODELS.get(config["model"])
    num_classes, num_train = describe(config)
    _check_against_data(config, num_classes, num_train)
    data = load_dataset(config)
    shape = data.input_shape
    _check_model_fits(config["model"], shape, config["dataset"])
    for seed in cfg.seed_list(config):  # raises ConfigError if a seed's partition cannot be made
        client_partitions(data.y_train, {**config, "seed": seed})
    if config["forget-samples-path"]:
        _check_sample_file(config, num_train)
    for _, base, overrides in cfg.method_variants(config):
        methods.get(base).check({**config, **overrides}, shape, num_classes)
    return config


def _check_against_data(config: Mapping[str, Any], num_classes: int, num_train: int) -> None:
    """Checks that need the data set's size: the forgotten class and the number of clients."""
    for key in ("forget-client", "forget-samples-client"):
        if config[key] >= config["num-clients"]:
            raise cfg.ConfigError(f"{key} = {config[key]}: must be a client id (0..{config['num-clients'] - 1})")
    if cfg.request_kind(config) in ("class", "sequential") and not 0 <= config["forget-class"] < num_classes:
        raise cfg.ConfigError(
            f"forget-class = {config['forget-class']}: must be a class label of dataset "
            f"{config['dataset']!r} (0..{num_classes - 1})"
        )
    sequence = cfg.class_sequence(config)
    if cfg.request_kind(config) == "sequential":
        if any(c >= num_classes for c in sequence):
            raise cfg.ConfigError(f"then-forget-classes = {config['then-forget-classes']!r}: must be class labels of dataset "
                              f"{config['dataset']!r} (0..{num_classes - 1})")
        if len(sequence) >= num_classes:
            raise cfg.ConfigError(f"then-forget-classes = {config['then-forget-classes']!r}: with forget-class that forgets "
                              f"{len(sequence)} of {num_classes} classes; at least one class must remain")
    if config["min-clients"] > config["num-clients"]:
        raise cfg.ConfigError(f"min-clients = {config['min-clients']}: must be at most num-clients ({config['num-clients']})")
    if config["num-clients"] > num_train:
        raise cfg.ConfigError(
            f"num-clients = {config['num-clients']}: must be at most the number of training samples ({num_train})"
        )
    if config["backdoor-client"] >= config["num-clients"]:
        raise cfg.ConfigError(
            f"backdoor-client = {config['backdoor-client']}: must be -1 or a client id (0..{config['num-clients'] - 1})"
        )
    if config["backdoor-client"] >= 0 and not 0 <= config["backdoor-target"] < num_classes:
        raise cfg.ConfigError(
            f"backdoor-target = {config['backdoor-target']}: must be a class label (0..{num_classes - 1})"
        )
    if config["partitioner"] == "pathological" and config["classes-per-client"] > num_classes:
        raise cfg.ConfigError(
            f"classes-per-client = {config['classes-per-client']}: must be at most the number of classes ({num_classes})"
        )


def _check_model_fits(model: str, shape: tuple[int, ...], dataset: str) -> None:
    """A model that pools its input away (LeNet-5 needs 16x16) refuses smaller images before anything runs."""
    least = getattr(MODELS.get(model), "MIN_SIZE", None)
    if least is not None and (len(shape) != 3 or min(shape[1:]) < least):
        raise cfg.ConfigError(f"model = {model!r}: needs images of at least {least}x{least}; dataset {dataset!r} "
                              f"has samples of shape {'x'.join(map(str, shape))}")


def _check_sample_file(config: Mapping[str, Any], num_train: int) -> None:
    """The indices exist, and a method that needs one target client gets one (in every seed's partition)."""
    from fedunlearn.data.requests import load_indices

    indices = load_indices(config["forget-samples-path"])
    if indices.min() < 0 or indices.max() >= num_train:
        raise cfg.ConfigError(f"forget-samples-path = {config['forget-samples-path']!r}: indices must lie in "
                              f"0..{num_train - 1} (the training split)")
    targeted = [label for label, base, _ in cfg.method_variants(config)
                if base != REFERENCE and methods.get(base).needs_one_target]
    if targeted:
        labels = load_dataset(config).y_train
        for seed in cfg.seed_list(config):
            parts = client_partitions(labels, {**config, "seed": seed})
            owners = [c for c, held in enumerate(parts) if np.isin(held, indices).any()]
            if len(owners) != 1:
                raise cfg.ConfigError(f"forget-samples-path = {config['forget-samples-path']!r}: {targeted[0]} needs "
                                      f"the samples of one client, but with seed {seed} clients {owners} hold them")
