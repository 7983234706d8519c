import pytest
import torch

from fedunlearn.learning.models import build_model


@pytest.mark.parametrize(
    "name, shape",
    [("mlp", (1, 8, 8)), ("cnn", (1, 8, 8)), ("cnn", (1, 28, 28)), ("mlp", (3, 32, 32)), ("resnet18", (3, 32, 32)),
     ("lenet5", (1, 28, 28)), ("lenet5", (3, 32, 32)), ("lenet5", (1, 16, 16)), ("cnn2", (1, 28, 28)), ("cnn2", (1, 8, 8)),
     ("cnn2-8", (1, 28, 28)), ("cnn2-16", (1, 28, 28))],
)
def test_logits_and_representation_shapes(name, shape):
    model = build_model(name, shape, 10, seed=0).eval()
    x = torch.randn(4, *shape)
    features = model.features(x)
    assert features.shape == (4, model.feature_dim)
    assert model(x).shape == (4, 10)
    assert torch.allclose(model(x), model.head(features))


def test_resnet18_has_the_cifar_resnet18_parameter_count():
    model = build_model("resnet18", (3, 32, 32), 10)
    # The standard CIFAR ResNet-18 (3x3 stem, 10 classes) has 11,173,962 parameters.
    assert sum(p.numel() for p in model.parameters()) == 11_173_962


def test_seeded_models_are_identical_and_do_not_touch_the_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("cnn", (1, 8, 8), 10, seed=5)
    after = torch.rand(1)
    b = build_model("cnn", (1, 8, 8), 10, seed=5)
    assert before == after
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_lenet5_and_cnn2_parameter_counts_on_28x28():
    # LeNet-5 as niid_bench: 6*25+6 + 16*6*25+16 + 256*120+120 + 120*84+84 + 84*10+10 = 44,426.
    assert sum(p.numel() for p in build_model("lenet5", (1, 28, 28), 10).parameters()) == 44_426
    # 32*9+32 + 64*32*9+64 + 3136*128+128 + 128*10+10 = 421,642.
    assert sum(p.numel() for p in build_model("cnn2", (1, 28, 28), 10).parameters()) == 421_642
    # The same at a quarter width (the Fashion-MNIST default): 8*9+8 + 16*8*9+16 + 784*128+128 + 128*10+10.
    assert sum(p.numel() for p in build_model("cnn2-8", (1, 28, 28), 10).parameters()) == 103_018
    # At half width: 16*9+16 + 32*16*9+32 + 1568*128+128 + 128*10+10.
    assert sum(p.numel() for p in build_model("cnn2-16", (1, 28, 28), 10).parameters()) == 206_922


def test_a_model_too_big_for_the_images_is_refused_before_anything_runs():
    from fedunlearn.strategies.validation import check_experiment

    from fedunlearn.config import ConfigError

    with pytest.raises(ConfigError, match=r"model = 'lenet5': needs images of at least 16x16; dataset 'digits' has "
                                          r"samples of shape 1x8x8"):
        check_experiment({"model": "lenet5"})
