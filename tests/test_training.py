import numpy as np
import torch

from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import TrainSettings, derive_seed, predict, train

SETTINGS = TrainSettings(epochs=30, batch_size=8, learning_rate=0.1, momentum=0.9)


def _two_blobs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.5, (20, 1, 2, 2)), rng.normal(2, 0.5, (20, 1, 2, 2))]).astype(np.float32)
    return x, np.array([0] * 20 + [1] * 20)


def test_training_learns_a_separable_problem():
    x, y = _two_blobs()
    model = build_model("mlp", (1, 2, 2), 2, seed=0)
    train(model, x, y, SETTINGS, seed=1)
    probs, feats = predict(model, x)
    assert np.mean(probs.argmax(1) == y) == 1.0
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5) and feats.shape == (40, model.feature_dim)


def test_training_is_reproducible_from_its_seed():
    x, y = _two_blobs()
    short = TrainSettings(epochs=2, batch_size=8, learning_rate=0.1, momentum=0.9)
    a, b, c = (build_model("mlp", (1, 2, 2), 2, seed=0) for _ in range(3))
    train(a, x, y, short, seed=1)
    train(b, x, y, short, seed=1)
    train(c, x, y, short, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_training_on_no_data_leaves_the_model_unchanged():
    model = build_model("mlp", (1, 2, 2), 2, seed=0)
    before = [p.clone() for p in model.parameters()]
    assert train(model, np.zeros((0, 1, 2, 2), np.float32), np.zeros(0, np.int64), SETTINGS, seed=0) == 0.0
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, "original", 1, 3) == derive_seed(0, "original", 1, 3)
    assert len({derive_seed(0, "original", r, c) for r in range(10) for c in range(10)}) == 100
