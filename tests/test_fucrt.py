import math

import numpy as np
import pytest
import torch

from fedunlearn.algorithms.fucrt import (
    aggregate_prototypes,
    global_transformation_set,
    local_transformation_set,
    nearest_centroid_set,
    prototype_contrastive_loss,
    prototype_sums,
    relabel,
    supervised_contrastive_loss,
)

# Forgotten class 0. Rows: (probabilities over 4 classes, label).
PROBS = np.array([
    [0.60, 0.30, 0.10, 0.00],  # correct; second: class 1 (0.30)
    [0.70, 0.05, 0.25, 0.00],  # correct; second: class 2 (0.25)
    [0.50, 0.40, 0.10, 0.00],  # correct; second: class 1 (0.40)
    [0.20, 0.70, 0.10, 0.00],  # misclassified: ignored
    [0.90, 0.00, 0.00, 0.10],  # label 2, not forgotten: ignored
])
LABELS = np.array([0, 0, 0, 0, 2])


def test_local_set_sums_second_probabilities_of_correct_forgotten_samples():
    classes, sums = local_transformation_set(PROBS, LABELS, forget_class=0, threshold=0.3)
    assert sums == pytest.approx([0.0, 0.70, 0.25, 0.0])
    assert classes == [1]  # shares 0.737 and 0.263: only class 1 passes 0.3
    assert local_transformation_set(PROBS, LABELS, 0, threshold=0.2)[0] == [1, 2]
    assert local_transformation_set(PROBS, LABELS, 0, threshold=0.9)[0] == [1]  # none passes: the largest
    assert local_transformation_set(PROBS[3:], LABELS[3:], 0, 0.2)[0] == []  # no correct forgotten sample


def test_global_set_size_is_the_mode_and_members_win_by_votes_then_mass():
    sums = [np.array([0, 1.0, 0.5, 0]), np.array([0, 1.0, 0, 0]), np.array([0, 0, 0.2, 0.4]),
            np.array([0, 0.5, 0, 0.3])]
    # Sizes 2, 1, 2, 2 -> mode 2. Votes: class 1: 3, class 2: 2, class 3: 2; mass 2 = 0.7 < mass 3 = 0.7 + eps?
    sums[3][3] = 0.31  # mass(3) = 0.71 > mass(2) = 0.70
    assert global_transformation_set([[1, 2], [1], [2, 3], [1, 3]], sums) == [1, 3]
    # Equal votes and equal mass: the smaller class id.
    assert global_transformation_set([[2], [3]], [np.array([0, 0, 1.0, 0]), np.array([0, 0, 0, 1.0])]) == [2]
    # Tie between sizes 1 and 2 (one client each): the smaller size.
    assert global_transformation_set([[1], [2, 3]], [np.ones(4), np.ones(4)]) == [1]
    with pytest.raises(ValueError, match="no client proposed"):
        global_transformation_set([[], []], [np.zeros(4), np.zeros(4)])


def test_nearest_centroid_picks_the_most_similar_retained_prototypes():
    prototypes = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.7, 0.7]])
    assert nearest_centroid_set(prototypes, np.array([1, 1, 1, 1], bool), forget_class=0, size=2) == [1, 3]
    assert nearest_centroid_set(prototypes, np.array([1, 0, 1, 1], bool), forget_class=0, size=2) == [3, 2]


def test_relabel_moves_forgotten_samples_to_their_most_probable_transformation_class():
    probs = np.array([[0.5, 0.3, 0.1, 0.1], [0.4, 0.1, 0.1, 0.4], [0.1, 0.8, 0.05, 0.05]])
    assert list(relabel(probs, np.array([0, 0, 1]), 0, [1, 3])) == [1, 3, 1]


def test_supervised_contrastive_loss_hand_computed():
    features = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # normalised: e0, e0, e1
    labels = torch.tensor([0, 0, 1])
    # Anchors 0 and 1: one positive at similarity 1, one negative at 0 -> log(1 + e) - 1; anchor 2 has none.
    expected = math.log(1 + math.e) - 1
    assert supervised_contrastive_loss(features, labels, 1.0).item() == pytest.approx(expected)
    # Temperature 0.5 doubles the similarities: log(e^2 + 1) - 2.
    assert supervised_contrastive_loss(features, labels, 0.5).item() == pytest.approx(math.log(math.e ** 2 + 1) - 2)
    assert supervised_contrastive_loss(features, torch.tensor([0, 1, 2]), 1.0).item() == 0.0


def test_prototype_contrastive_loss_hand_computed():
    prototypes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    present = torch.tensor([True, True, False])  # class 2 has no prototype: neither target nor negative
    features = torch.tensor([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 2])
    # Samples 0 and 1: cos 1 to their own prototype, 0 to the other -> log(1 + e^-1); sample 2 is skipped.
    loss = prototype_contrastive_loss(features, labels, prototypes, present, 1.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)))


def test_losses_have_gradients_that_pull_positives_together():
    features = torch.tensor([[1.0, 0.2], [0.2, 1.0], [0.0, 1.0]], requires_grad=True)
    before = supervised_contrastive_loss(features, torch.tensor([0, 0, 1]), 0.5)
    before.backward()
    with torch.no_grad():
        after = supervised_contrastive_loss(features - 0.1 * features.grad, torch.tensor([0, 0, 1]), 0.5)
    assert after < before  # a gradient step brings the two class-0 samples together


def test_prototype_sums_and_count_weighted_aggregation():
    sums_a, counts_a = prototype_sums(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([0, 0]), 3)
    sums_b, counts_b = prototype_sums(np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 4.0]]), np.array([0, 0, 1]), 3)
    assert counts_a.tolist() == [2, 0, 0] and sums_b.tolist() == [[4, 0], [0, 4], [0, 0]]
    prototypes, counts = aggregate_prototypes([sums_a, sums_b], [counts_a, counts_b])
    assert prototypes.tolist() == [[1.5, 0.5], [0.0, 4.0], [0.0, 0.0]]  # (2+4)/4, (2+0)/4; class 2: none
    assert counts.tolist() == [4, 1, 0]


def test_with_no_proposal_the_vote_falls_back_to_the_nearest_retained_centroid():
    from fedunlearn.algorithms.fucrt import vote_or_nearest

    # Class 0 is forgotten; class 2's prototype points the same way (cosine 1), class 1's is orthogonal, and
    # class 3 has no samples left.
    prototypes = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.1], [1.0, 0.0]])
    present = np.array([True, True, True, False])
    sums = [np.zeros(4), np.zeros(4)]
    assert vote_or_nearest([[], []], sums, prototypes, present, 0) == ([2], True)
    assert vote_or_nearest([[], [1]], [np.zeros(4), np.array([0, 1.0, 0, 0])], prototypes, present, 0) == ([1], False)


def test_transformation_round_relabels_forgotten_samples_by_the_received_models_probabilities():
    # A head whose bias makes class 2 the most probable of the transformation classes {2, 3} for every input
    # (all other weights 0): the 3 forgotten samples (class 0) are counted as class 2, the others keep their
    # labels, and nothing stays in class 0. The counts are those of the labels trained on.
    from fedunlearn.algorithms.fucrt import AlignmentSettings, client_transformation
    from fedunlearn.learning.models import build_model
    from fedunlearn.learning.training import TrainSettings

    model = build_model("mlp", (4,), 4, seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.copy_(torch.tensor([5.0, 0.0, 2.0, 1.0]))
    x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    y = np.array([0, 1, 0, 3, 0, 1])
    n, _, sums, counts = client_transformation(
        model, x, y, forget_class=0, classes=[2, 3], prototypes=np.zeros((4, model.feature_dim), np.float32),
        present=np.ones(4), settings=TrainSettings(1, 2, 0.0, 0.0), alignment=AlignmentSettings(1.0, 1.0, 0.5),
        seed=0)
    assert n == 6
    assert counts.tolist() == [0.0, 2.0, 3.0, 1.0]
    assert sums.shape == (4, model.feature_dim)
