import pytest
import torch

from fedunlearn.algorithms.ascent import ball_radius, distance, others_average, project_to_ball, squared_distance


def test_others_average_undoes_the_target_from_a_fedavg_aggregate():
    # Clients: A (3 samples, w=1), B (1 sample, w=5), target T (4 samples, w=10). FedAvg: (3 + 5 + 40) / 8 = 6.
    global_state = {"w": torch.tensor([6.0])}
    reference = others_average(global_state, {"w": torch.tensor([10.0])}, n_total=8, n_target=4)
    assert reference["w"].item() == pytest.approx((3 * 1 + 1 * 5) / 4)
    with pytest.raises(ValueError, match="no other client"):
        others_average(global_state, global_state, 4, 4)


def test_projection_onto_the_l2_ball_hand_computed():
    center = {"a": torch.tensor([0.0]), "b": torch.tensor([0.0])}
    point = {"a": torch.tensor([3.0]), "b": torch.tensor([4.0])}  # distance 5 over both tensors together
    assert project_to_ball(point, center, radius=1.0)
    assert point["a"].item() == pytest.approx(0.6) and point["b"].item() == pytest.approx(0.8)
    assert distance(point, center, ["a", "b"]) == pytest.approx(1.0)
    inside = {"a": torch.tensor([0.3]), "b": torch.tensor([0.4])}
    assert not project_to_ball(inside, center, radius=1.0) and inside["a"].item() == pytest.approx(0.3)
    shifted = {"a": torch.tensor([1.0]), "b": torch.tensor([1.0])}
    far = {"a": torch.tensor([1.0]), "b": torch.tensor([11.0])}
    project_to_ball(far, shifted, radius=2.0)
    assert far["a"].item() == pytest.approx(1.0) and far["b"].item() == pytest.approx(3.0)


def test_radius_is_the_notebooks_a_third_of_the_mean_squared_distance_to_random_models():
    """The notebook: threshold = mean(get_distance(model_ref, FLNet()) for 10 models) / 3 with get_distance the
    squared L2 norm, and the projection to sqrt(threshold)."""
    reference = {"w": torch.tensor([0.0, 0.0])}
    randoms = [{"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([0.0, 1.0])}]  # squared: 25 and 1, mean 13
    assert squared_distance(reference, randoms[0], ["w"]) == pytest.approx(25.0)
    assert ball_radius(reference, randoms, ["w"], share=1 / 3) == pytest.approx((13 / 3) ** 0.5)
