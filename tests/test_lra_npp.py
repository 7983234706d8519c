"""LRA-NPP's pure functions on a two-layer model with known activations."""

import numpy as np
import pytest
import torch
from torch import nn

from fedunlearn.algorithms.lra_npp import counts_for_width, feature_layer, frequent_neurons, head_relevance, perturb
from fedunlearn.learning.models import build_model


def test_relevance_counts_and_the_most_frequent_neurons():
    # Three representation neurons, two classes. Head row of class 1: (1, -2, 3).
    head = np.array([[0.5, 0.5, 0.5], [1.0, -2.0, 3.0]])
    features = np.array([[2.0, 1.0, 0.1],    # predicted 1: relevance (2, -2, 0.3): ranks 0, 2, 1
                         [0.0, 0.5, 1.0],    # predicted 1: relevance (0, -1, 3):   ranks 2, 0, 1
                         [1.0, 4.0, 0.0]])   # predicted 0: relevance (0.5, 2, 0):  ranks 1, 0, 2
    relevance = head_relevance(features, head, np.array([1, 1, 0]))
    assert relevance == pytest.approx(np.array([[2.0, -2.0, 0.3], [0.0, -1.0, 3.0], [0.5, 2.0, 0.0]]))
    # Top 2 per image: {0, 2}, {2, 0}, {1, 0}: neuron 0 three times, 2 twice, 1 once.
    assert frequent_neurons(relevance, top_k=2) == [0, 2, 1]
    # Top 1 per image: 0, 2, 1 once each: the order they first appear in.
    assert frequent_neurons(relevance, top_k=1) == [0, 2, 1]


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3)
        self.head = nn.Linear(3, 2)


def test_perturbation_cuts_the_neurons_off_the_forgotten_class():
    model = TwoLayer()
    state = {k: torch.ones_like(v) for k, v in model.state_dict().items()}
    assert feature_layer(model) == "fc"
    cut = perturb(state, [0, 2], forget_class=1, feature_weight="fc.weight")
    assert cut["head.weight"].tolist() == [[1, 1, 1], [0, 1, 0]]  # only the forgotten class's weights
    assert cut["fc.weight"].tolist() == [[0, 0], [1, 1], [0, 0]]  # the neurons' input rows
    assert cut["fc.bias"].tolist() == [1, 1, 1] and state["head.weight"].sum() == 6  # bias kept; input untouched
    pooled = perturb(state, [1], forget_class=0, feature_weight=None)  # no feature layer (ResNet): every class
    assert pooled["head.weight"].tolist() == [[1, 0, 1], [1, 0, 1]]


def test_every_model_names_the_layer_that_produces_its_representation():
    assert feature_layer(build_model("cnn2", (1, 28, 28), 10)) == "body.7"  # Linear(3136, 128)
    assert feature_layer(build_model("lenet5", (1, 28, 28), 10)) == "body.9"  # Linear(120, 84)
    assert feature_layer(build_model("resnet18", (3, 32, 32), 10)) is None


def test_ranking_matches_lrp_epsilon_at_the_head_as_published():
    """LRP-epsilon (Bach et al.; the authors' ``lrp`` package, rule "epsilon", eps = 0.1) through the head, the
    relevance started at the predicted logit: R_j = a_j W[c, j] / (z_c + eps sign z_c) * z_c. Computed here
    from that formula; the ranking must be the one head_relevance gives."""
    rng = np.random.default_rng(3)
    features = np.abs(rng.normal(size=(6, 8)))  # ReLU activations
    head, bias = rng.normal(size=(4, 8)), rng.normal(size=4)
    logits = features @ head.T + bias
    predicted = logits.argmax(1)
    z = logits[np.arange(6), predicted]
    lrp = features * head[predicted] / (z + 0.1 * np.sign(z))[:, None] * z[:, None]
    ours = head_relevance(features, head, predicted)
    assert [np.argsort(-r, kind="stable").tolist() for r in ours] == [np.argsort(-r, kind="stable").tolist() for r in lrp]


def test_counts_follow_the_width_as_the_authors_settings_imply():
    assert counts_for_width(512, 50 / 512, 80 / 512) == (50, 80)  # the authors' MNIST CNN
    assert counts_for_width(128, 50 / 512, 80 / 512) == (12, 20)  # cnn2's 128: 12.5 rounds to even, 20
    assert counts_for_width(2048, 200 / 2048, 400 / 2048) == (200, 400)  # their ResNet-50 setting
    assert counts_for_width(4, 0.01, 0.01) == (1, 1)
