"""Plugins (methods, models, data sets): entry points found, collisions refused, and the worked examples installed
and run end to end."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fedunlearn import config as cfg
from fedunlearn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fedunlearn-random-labels"
PARTS_EXAMPLE = ROOT / "examples" / "fedunlearn-blobs"


@pytest.fixture
def fresh_registry(monkeypatch):
    """A copy of the method registry with the built-ins (and of the key schema) for this test alone."""
    from fedunlearn.strategies import methods

    methods.available()
    monkeypatch.setattr(methods, "METHODS", dict(methods.METHODS))
    monkeypatch.setattr(methods, "ORIGINS", dict(methods.ORIGINS))
    monkeypatch.setattr(cfg, "SCHEMA", dict(cfg.SCHEMA))
    monkeypatch.setattr(cfg, "DEFAULTS", dict(cfg.DEFAULTS))
    monkeypatch.setattr(cfg, "METHOD_KEY_PREFIXES", list(cfg.METHOD_KEY_PREFIXES))
    return methods


def _fake_distribution(folder: Path, package: str, module: str, source: str, group: str, entries: dict) -> None:
    """An installed distribution as importlib.metadata sees one: a module and a dist-info with entry points."""
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / f"{package.replace('-', '_')}-9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))


PLUGIN = """
from fedunlearn.config import Key
from fedunlearn.strategies.methods.base import UnlearningMethod


class Shiny(UnlearningMethod):
    '''A made-up method for the tests.'''

    name = "shiny"
    request_kinds = frozenset({"class"})
    config_keys = {"shiny-strength": Key(float, 0.5, "how shiny", lambda v: None if v > 0 else "a number > 0")}

    def unlearn(self, session, original):
        return original


class Clash(UnlearningMethod):
    name = "finetune"
    request_kinds = frozenset({"class"})

    def unlearn(self, session, original):
        return original
"""


def test_a_plugin_method_is_listed_validated_and_its_keys_work_in_variants(tmp_path, monkeypatch, fresh_registry):
    _fake_distribution(tmp_path, "shiny-unlearning", "shiny_plugin", PLUGIN, "fedunlearn.methods",
                       {"shiny": "shiny_plugin:Shiny"})
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh_registry.load_plugins()
    found = {info.name: info for info in fresh_registry.describe()}
    assert found["shiny"].origin == "shiny-unlearning 9.9" and found["finetune"].origin == "fedunlearn (built-in)"
    assert found["shiny"].request_kinds == {"class"} and found["shiny"].summary == "A made-up method for the tests."
    config = cfg.validate({"unlearn-methods": "fucrt,shiny[shiny-strength=2.0]"},
                          known_methods=fresh_registry.available())
    assert cfg.method_variants(config)[1] == ("shiny[shiny-strength=2.0]", "shiny", {"shiny-strength": 2.0})
    with pytest.raises(ConfigError, match=r"shiny-strength = -1.0: must be a number > 0"):
        cfg.validate({"unlearn-methods": "shiny[shiny-strength=-1.0]"}, known_methods=fresh_registry.available())
    with pytest.raises(ConfigError, match="does not support client requests"):
        cfg.validate({"unlearn-methods": "shiny", "forget-class": -1, "forget-client": 1},
                     known_methods=fresh_registry.available())


def test_a_plugin_named_like_a_built_in_is_an_error_naming_both_packages(tmp_path, monkeypatch, fresh_registry):
    _fake_distribution(tmp_path, "clashing-unlearning", "clash_plugin", PLUGIN, "fedunlearn.methods",
                       {"finetune": "clash_plugin:Clash"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"'finetune' is defined twice: by fedunlearn \(built-in\) and by "
                                          r"clashing-unlearning 9.9"):
        fresh_registry.load_plugins()


def test_a_plugin_that_is_not_a_method_is_named_in_one_line(tmp_path, monkeypatch, fresh_registry):
    _fake_distribution(tmp_path, "odd-unlearning", "odd_plugin", "VALUE = 3\n", "fedunlearn.methods",
                       {"odd": "odd_plugin:VALUE"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"plugin 'odd' of odd-unlearning 9.9: odd_plugin:VALUE is not a subclass"):
        fresh_registry.load_plugins()


@pytest.fixture
def fresh_parts(monkeypatch):
    """The model and data set registries with their built-ins only, for this test alone."""
    from fedunlearn.data import datasets
    from fedunlearn.learning import models

    for registry in (models.MODELS, datasets.DATASETS):
        registry.names()
        monkeypatch.setattr(registry, "_objects", dict(registry._objects))
        monkeypatch.setattr(registry, "_origins", dict(registry._origins))
        monkeypatch.setattr(registry, "_plugins_loaded", False)
    datasets._load_cached.cache_clear()
    datasets._imbalanced.cache_clear()
    yield models.MODELS, datasets.DATASETS
    datasets._load_cached.cache_clear()
    datasets._imbalanced.cache_clear()


PARTS = '''
import numpy as np
import torch
from torch import nn

from fedunlearn.data.datasets import stratified_split
from fedunlearn.learning.models import Classifier


class Linear(Classifier):
    """The identity as representation. A made-up model for the tests."""

    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.feature_dim = int(np.prod(input_shape))
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x):
        return torch.flatten(x, 1)


def stripes(options):
    """Four classes of 1x4x4 stripes. A made-up data set for the tests."""
    y = np.arange(200) % 4
    x = np.zeros((200, 1, 4, 4), np.float32)
    x[np.arange(200), 0, y, :] = 1.0
    return stratified_split(options.name, x, y, options.test_fraction)


def not_a_data_set(options):
    return [1, 2, 3]
'''


def test_a_plugin_model_and_data_set_are_listed_validated_and_used(tmp_path, monkeypatch, fresh_parts):
    from fedunlearn.strategies.validation import check_experiment

    from fedunlearn.data.datasets import load_dataset
    from fedunlearn.learning.models import build_model

    models, data_sets = fresh_parts
    _fake_distribution(tmp_path, "parts-plugin", "parts_plugin", PARTS, "fedunlearn.models",
                       {"linear": "parts_plugin:Linear"})
    with open(tmp_path / "parts_plugin-9.9.dist-info" / "entry_points.txt", "a") as entries:
        entries.write("[fedunlearn.datasets]\nstripes = parts_plugin:stripes\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    listed = {e.name: e for e in models.describe()}
    assert listed["linear"].origin == "parts-plugin 9.9" and listed["cnn"].origin == "fedunlearn (built-in)"
    assert listed["linear"].summary == "The identity as representation."
    assert {e.name: e.origin for e in data_sets.describe()}["stripes"] == "parts-plugin 9.9"
    config = check_experiment({"dataset": "stripes", "model": "linear", "num-clients": 2, "partitioner": "iid",
                               "forget-class": 1, "test-fraction": 0.25})
    data = load_dataset(config)
    assert (len(data.y_train), len(data.y_test), data.num_classes, data.input_shape) == (150, 50, 4, (1, 4, 4))
    model = build_model("linear", data.input_shape, data.num_classes, seed=0)
    assert sum(p.numel() for p in model.parameters()) == 16 * 4 + 4


def test_a_model_plugin_named_like_a_built_in_is_an_error_naming_both_packages(tmp_path, monkeypatch, fresh_parts):
    models, _ = fresh_parts
    _fake_distribution(tmp_path, "clashing-models", "clash_models", PARTS, "fedunlearn.models",
                       {"cnn": "clash_models:Linear"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"model 'cnn' is defined twice: by fedunlearn \(built-in\) and by "
                                          r"clashing-models 9.9"):
        models.names()


def test_a_plugin_that_is_not_a_model_or_whose_data_is_not_a_data_set_is_one_line(tmp_path, monkeypatch, fresh_parts):
    from fedunlearn.strategies.validation import check_experiment

    models, _ = fresh_parts
    (tmp_path / "data").mkdir()
    (tmp_path / "model").mkdir()
    _fake_distribution(tmp_path / "data", "odd-data", "odd_data", PARTS, "fedunlearn.datasets",
                       {"list": "odd_data:not_a_data_set"})
    _fake_distribution(tmp_path / "model", "odd-parts", "odd_parts", PARTS, "fedunlearn.models",
                       {"odd": "odd_parts:stripes"})
    monkeypatch.syspath_prepend(str(tmp_path / "data"))
    with pytest.raises(ConfigError, match=r"^dataset = 'list': its loader returned list, not a "
                                          r"fedunlearn.data.datasets.DataSet$"):
        check_experiment({"dataset": "list"})
    monkeypatch.syspath_prepend(str(tmp_path / "model"))
    monkeypatch.setattr(models, "_plugins_loaded", False)  # as in a fresh process
    with pytest.raises(ConfigError, match=r"model 'odd' of odd-parts 9.9: <function stripes .*> is not a subclass "
                                          r"of fedunlearn.learning.models.Classifier"):
        models.names()


def test_an_unknown_model_or_data_set_is_one_line_listing_the_registered_ones():
    from fedunlearn.strategies.validation import check_experiment

    with pytest.raises(ConfigError, match=r"^model = 'bogus': must be one of 'cnn', .*'resnet18' \(built-in, or "
                                          r"registered under the entry point group 'fedunlearn.models'\)$"):
        check_experiment({"model": "bogus"})
    with pytest.raises(ConfigError, match=r"^dataset = 'nope': must be one of 'cifar10', 'digits', "):
        check_experiment({"dataset": "nope"})


def _installed(example: Path, distribution: str):
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(example)]
    subprocess.run(pip, check=True, capture_output=True)
    yield
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", distribution],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def example_installed():
    """The worked method example installed into the project's environment, as its README says, and removed after."""
    yield from _installed(EXAMPLE, "fedunlearn-random-labels")


@pytest.fixture(scope="module")
def parts_example_installed():
    """The worked model and data set example, installed the same way."""
    yield from _installed(PARTS_EXAMPLE, "fedunlearn-blobs")


def test_the_example_method_draws_another_label_for_every_sample():
    sys.path.insert(0, str(EXAMPLE))
    try:
        from fedunlearn_random_labels.labels import random_other_labels
    finally:
        sys.path.remove(str(EXAMPLE))
    labels = np.array([0, 1, 2, 2, 9] * 200)
    drawn = random_other_labels(labels, 10, seed=3)
    assert np.all(drawn != labels) and drawn.min() >= 0 and drawn.max() <= 9
    assert np.array_equal(drawn, random_other_labels(labels, 10, seed=3))
    assert np.bincount(drawn[labels == 0], minlength=10)[0] == 0 and len(set(drawn[labels == 0])) == 9


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_the_worked_example_installs_and_runs_end_to_end(example_installed, tmp_path):
    command = [sys.executable, "-m", "fedunlearn"]
    listing = subprocess.run([*command, "methods"], capture_output=True, text=True, check=True).stdout
    assert "random-labels" in listing and "fedunlearn-random-labels 0.1.0" in listing
    out = tmp_path / "run"
    run_config = ("dataset='digits' model='mlp' num-clients=3 partitioner='iid' num-server-rounds=6 local-epochs=1 "
                  "forget-class=3 unlearn-rounds=2 round-deadline-floor=30 "  # no late-answer retries: exact counts
                  "unlearn-methods='finetune,random-labels,random-labels[random-labels-retain=false]'")
    done = subprocess.run([*command, "run", "--run-config", run_config, "--out", str(out)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    models = report["models"]
    assert {"random-labels", "random-labels[random-labels-retain=false]"} <= set(models)
    # Random labels push the forgotten class's samples away from their label ...
    assert models["random-labels"]["metrics"]["forget_acc"] < models["original"]["metrics"]["forget_acc"] - 0.3
    # ... and without the retained samples to hold it, the model forgets more than that class.
    alone = models["random-labels[random-labels-retain=false]"]["metrics"]
    assert alone["test_retain_acc"] < models["random-labels"]["metrics"]["test_retain_acc"]
    assert models["random-labels"]["cost"]["client_rounds"] == 6  # 2 rounds x 3 clients


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_the_model_and_data_set_example_installs_and_runs_end_to_end(parts_example_installed, tmp_path):
    command = [sys.executable, "-m", "fedunlearn"]
    assert "fedunlearn-blobs 0.1.0" in subprocess.run([*command, "models"], capture_output=True, text=True,
                                                      check=True).stdout
    assert "blobs" in subprocess.run([*command, "datasets"], capture_output=True, text=True, check=True).stdout
    out = tmp_path / "run"
    run_config = ("dataset='blobs' model='mlp-32' num-clients=3 partitioner='iid' num-server-rounds=6 local-epochs=1 "
                  "forget-class=3 unlearn-rounds=2 unlearn-methods='finetune'")
    done = subprocess.run([*command, "run", "--run-config", run_config, "--out", str(out)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["experiment"]["dataset"] == "blobs" and report["experiment"]["model"] == "mlp-32"
    # The Ray workers built the plugin's model on the plugin's data (ten classes: chance is 0.1) ...
    assert report["models"]["original"]["metrics"]["test_acc"] > 0.5
    # ... and the reference, never trained on class 3, does not predict it.
    assert report["models"]["retrain"]["metrics"]["test_forget_acc"] < 0.05
