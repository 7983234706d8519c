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
    in_batch_tuning,
    kl_to_standard_normal,
    proxies,
    train_generator,
    vae_loss,
)


def test_each_class_targets_its_least_certain_sample():
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.6, 0.4], [0.99, 0.01]])
    labels = np.array([0, 0, 1, 1, 1])
    assert entropy_targets(probs, labels) == {0: 1, 1: 3}  # entropies: 0.33, 0.69 | 0.50, 0.67, 0.06


def test_the_vae_loss_by_hand_and_training_fits_the_targets():
    """Reconstruction + KL(N(mu, sigma^2) || N(0, I)) = 0.5 sum(sigma^2 + mu^2 - 1 - log sigma^2), computed here
    from the formula on the generator's own mu and log-variance."""
    generator = build_generator(2, (1, 2, 2), seed=0)
    classes, targets = torch.tensor([0, 1]), torch.zeros(2, 1, 2, 2)
    noise = torch.ones(2, generator.mu.out_features)
    with torch.no_grad():
        mu, log_var = generator.encode(classes)
        images = generator.decode(mu + torch.exp(0.5 * log_var) * noise)
        kl = 0.5 * (log_var.exp() + mu ** 2 - 1 - log_var).sum(1)
        expected = float(((images ** 2).flatten(1).sum(1) + 0.5 * kl).mean())
    assert kl_to_standard_normal(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0  # the prior itself
    assert kl_to_standard_normal(torch.ones(1, 2), torch.zeros(1, 2)).item() == pytest.approx(1.0)  # 0.5 * 2 * 1
    assert vae_loss(generator, classes, targets, noise, kl_weight=0.5).item() == pytest.approx(expected, rel=1e-5)
    target = {1: np.array([[[0.0, 1.0], [1.0, 0.0]]], dtype=np.float32)}
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    train_generator(generator, target, GeneratorSettings(steps=400, learning_rate=0.01), seed=1)
    images, labels = proxies(generator, 2, per_class=3, seed=2)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and np.abs(images[3:] - target[1]).max() < 0.15
    assert torch.equal(generator.prompts, before["prompts"])  # the noise prompts are fixed
    state = torch.get_rng_state()
    train_generator(generator, target, GeneratorSettings(steps=3), seed=1)
    assert torch.equal(torch.get_rng_state(), state)  # the classifier's training beside it sees the same random state


def test_generators_are_averaged_by_sample_count_and_built_alike_everywhere():
    a = {"prompts": np.array([[1.0]]), "decoder.0.weight": np.array([2.0])}
    b = {"prompts": np.array([[1.0]]), "decoder.0.weight": np.array([6.0])}
    out = average_generators([a, b], examples=[3, 5])
    assert out["decoder.0.weight"].tolist() == [pytest.approx(4.5)] and out["prompts"].tolist() == [[1.0]]
    one, two = build_generator(3, (1, 4, 4), seed=7), build_generator(3, (1, 4, 4), seed=7)
    assert all(torch.equal(one.state_dict()[k], two.state_dict()[k]) for k in one.state_dict())


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


def test_the_classifier_trains_exactly_as_plain_training_with_the_generator_beside_it():
    """GENIU's ``train.geniu`` handler: the same message without and with a generator gives the same classifier
    (the generator trains after it, on its own random stream); the generator comes back trained."""
    from fedunlearn.clients.client_app import local_training
    from fedunlearn.clients.handlers.geniu import training_with_generators
    from fedunlearn.strategies.methods.geniu import GeneratorCompanion
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    from fedunlearn.config import validate
    from fedunlearn.learning.models import build_model

    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0
    config = validate({"num-clients": 3, "partitioner": "iid", "model": "mlp", "forget-class": 3,
                       "geniu-generator-steps": 5, "cache-dir": ""})
    model = ArrayRecord(build_model("mlp", (1, 8, 8), 10, seed=0).state_dict())
    companion = GeneratorCompanion(config, "geniu")

    def ask(handler, extra):
        content = RecordDict({"arrays": model, "config": ConfigRecord({**config, "phase": "original", "view": "all",
                                                                        "server-round": 1}), **extra})
        message = Message(content, dst_node_id=7, message_type="train")
        context = Context(run_id=1, node_id=7, node_config={"partition-id": 1}, state=RecordDict(), run_config={})
        return handler(message, context).content

    plain, beside = ask(local_training, {}), ask(training_with_generators, companion.content())
    companion.close()
    assert all(np.array_equal(plain["arrays"][k].numpy(), beside["arrays"][k].numpy()) for k in plain["arrays"])
    sent, back = companion.content()[companion.name], beside[companion.name]
    assert any(not np.array_equal(sent[k].numpy(), back[k].numpy()) for k in sent if k != "prompts")
    assert np.array_equal(sent["prompts"].numpy(), back["prompts"].numpy())
