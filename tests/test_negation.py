import pytest
import torch
from fedunlearn.strategies.validation import check_experiment

from fedunlearn.algorithms.negation import gaussian_like, layers, negate, reinitialise, select_parameters
from fedunlearn.config import ConfigError
from fedunlearn.learning.models import build_model


@pytest.fixture
def mlp():
    return build_model("mlp", (1, 8, 8), 10, seed=0)


def test_layers_are_the_modules_with_parameters_in_forward_order(mlp):
    assert layers(mlp) == [("body.1", ["body.1.weight", "body.1.bias"]), ("body.3", ["body.3.weight", "body.3.bias"]),
                           ("head", ["head.weight", "head.bias"])]


def test_which_tensors_each_spec_selects(mlp):
    assert select_parameters(mlp, "first", negate_bias=True) == ["body.1.weight", "body.1.bias"]
    assert select_parameters(mlp, "first", negate_bias=False) == ["body.1.weight"]
    assert select_parameters(mlp, "last", negate_bias=True) == ["head.weight", "head.bias"]
    assert select_parameters(mlp, "all", negate_bias=False) == ["body.1.weight", "body.3.weight", "head.weight"]
    assert select_parameters(mlp, "head.bias, body.3.weight", False) == ["head.bias", "body.3.weight"]
    with pytest.raises(ValueError, match="nope"):
        select_parameters(mlp, "nope", False)
    resnet = build_model("resnet18", (3, 32, 32), 10)
    assert select_parameters(resnet, "first", True) == ["stem.0.weight"]  # a conv without bias; BN is not "first"


def test_negation_flips_signs_of_exactly_the_chosen_tensors(mlp):
    state = mlp.state_dict()
    out = negate(state, ["body.1.weight"])
    assert torch.equal(out["body.1.weight"], -state["body.1.weight"])
    for k in state:
        if k != "body.1.weight":
            assert torch.equal(out[k], state[k])
    assert out["body.1.weight"] is not state["body.1.weight"] and torch.equal(mlp.state_dict()["body.1.weight"],
                                                                               state["body.1.weight"])


def test_noise_has_each_tensors_norm_and_is_seeded(mlp):
    state = mlp.state_dict()
    names = ["body.1.weight", "body.1.bias"]
    out = gaussian_like(state, names, seed=3)
    for name in names:
        assert out[name].norm().item() == pytest.approx(state[name].norm().item(), rel=1e-5)
        assert not torch.allclose(out[name], state[name]) and not torch.allclose(out[name], -state[name])
    assert torch.equal(out["head.weight"], state["head.weight"])
    assert torch.equal(gaussian_like(state, names, seed=3)["body.1.weight"], out["body.1.weight"])


def test_reinit_takes_the_fresh_models_values(mlp):
    fresh = build_model("mlp", (1, 8, 8), 10, seed=1).state_dict()
    out = reinitialise(mlp.state_dict(), ["head.weight"], fresh)
    assert torch.equal(out["head.weight"], fresh["head.weight"])
    assert torch.equal(out["head.bias"], mlp.state_dict()["head.bias"])


def test_unknown_parameter_names_are_a_config_error_before_anything_runs():
    with pytest.raises(ConfigError, match=r"not-layers = 'conv9.weight'.*unknown parameter names"):
        check_experiment({"unlearn-methods": "not", "not-layers": "conv9.weight"})
    assert check_experiment({"unlearn-methods": "not,noise", "not-layers": "head.weight"})["not-layers"] == "head.weight"
