"""GENIU's pure functions: entropy targets, the generator's loss, averaging, the in-batch tuning loss."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fedunlearn.algorithms.geniu import (
    GeneratorSettings,
    average_generators,
    build_generator,
    entropy_targets,
    generator_loss,
    in_batch_tuning,
    proxies,
    train_generator,
)


def test_each_class_targets_its_least_certain_sample():
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.6, 0.4], [0.99, 0.01]])
    labels = np.array([0, 0, 1, 1, 1])
    assert entropy_targets(probs, labels) == {0: 1, 1: 3}  # entropies: 0.33, 0.69 | 0.50, 0.67, 0.06


def test_the_generator_loss_by_hand_and_training_fits_the_targets():
    generator = build_generator(2, (1, 2, 2), seed=0)
    with torch.no_grad():
        generator.prompts.copy_(torch.tensor([[3.0] + [0.0] * 31, [0.0] * 32]))
    classes, targets = torch.tensor([0]), torch.zeros(1, 1, 2, 2)
    image = generator(classes)
    expected = float((image ** 2).sum()) + 0.1 * 0.5 * 9.0  # squared error to zeros + 0.1 * 0.5 * ||z_0||^2
    assert float(generator_loss(generator, classes, targets, kl_weight=0.1)) == pytest.approx(expected, rel=1e-5)
    target = {1: np.array([[[0.0, 1.0], [1.0, 0.0]]], dtype=np.float32)}
    train_generator(generator, target, GeneratorSettings(steps=300, learning_rate=0.05))
    images, labels = proxies(generator, 2)
    assert labels.tolist() == [0, 1] and np.abs(images[1] - target[1]).max() < 0.1
    assert generator.prompts[0, 0].item() == pytest.approx(3.0)  # class 0 had no target: its prompt stayed


def test_prompts_are_averaged_by_class_count_and_the_decoder_by_sample_count():
    a = {"prompts": np.array([[1.0], [1.0]]), "decoder.0.weight": np.array([2.0])}
    b = {"prompts": np.array([[3.0], [5.0]]), "decoder.0.weight": np.array([6.0])}
    out = average_generators([a, b], [np.array([3, 0]), np.array([1, 4])], examples=[3, 5])
    assert out["prompts"].tolist() == [[1.5], [5.0]]  # class 0: (3*1 + 1*3)/4; class 1: only b holds it
    assert out["decoder.0.weight"].tolist() == [pytest.approx(4.5)]  # (3*2 + 5*6)/8


def test_in_batch_tuning_adds_the_inverse_of_the_forgotten_proxys_cross_entropy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images = np.random.default_rng(0).random((3, 1, 2, 2)).astype(np.float32)
    labels = np.array([0, 1, 2])
    logits = model(torch.from_numpy(images))
    expected = (nn.functional.cross_entropy(logits[:2], torch.tensor([0, 1]))
                + 1 / (nn.functional.cross_entropy(logits[2:], torch.tensor([2])) + 0.1))
    losses = in_batch_tuning(model, images, labels, forget_class=2, steps=50, learning_rate=0.1)
    assert losses[0] == pytest.approx(float(expected), rel=1e-5)
    assert model(torch.from_numpy(images)).argmax(1)[2].item() != 2  # the forgotten proxy is no longer class 2
    assert not math.isnan(losses[-1])
