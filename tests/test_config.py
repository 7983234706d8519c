import re
import tomllib
from pathlib import Path

import pytest
from fedunlearn.strategies.validation import check_experiment

from fedunlearn import config as cfg
from fedunlearn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_schema_defaults_equal_the_flower_app_defaults():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["flwr"]["app"]["config"] == cfg.DEFAULTS


def test_default_experiment_file_is_valid():
    config = check_experiment(cfg.load_experiment_file(ROOT / "experiments" / "default.toml"))
    assert config["name"] == "default"
    assert config["num-clients"] == 10 and config["dataset"] == "digits"


def test_ints_are_accepted_for_floats_and_defaults_fill_in():
    config = cfg.validate({"dirichlet-alpha": 1})
    assert config["dirichlet-alpha"] == 1.0 and isinstance(config["dirichlet-alpha"], float)
    assert config["batch-size"] == cfg.DEFAULTS["batch-size"]


@pytest.mark.parametrize(
    "values, fragments",
    [
        ({"bogus-key": 1}, ["bogus-key", "unknown key", "num-clients"]),
        ({"num-clients": "ten"}, ["num-clients", "'ten'", "int"]),
        ({"num-clients": True}, ["num-clients", "True", "int"]),
        ({"dirichlet-alpha": 0.0}, ["dirichlet-alpha", "0.0", "> 0"]),
        ({"dirichlet-alpha": -1.5}, ["dirichlet-alpha", "-1.5", "> 0"]),
        ({"num-clients": 1}, ["num-clients", "1", ">= 2"]),
        ({"dataset": "imagenet"}, ["dataset", "'imagenet'", "'digits'"]),
        ({"model": "vgg"}, ["model", "'vgg'", "'cnn'"]),
        ({"partitioner": "shards"}, ["partitioner", "'shards'", "'dirichlet'"]),
        ({"unlearn-methods": "finetune,magic"}, ["unlearn-methods", "'magic'", "finetune"]),
        ({"unlearn-methods": " , "}, ["unlearn-methods", "at least one"]),
        ({"forget-class": 10}, ["forget-class", "10", "0..9"]),
        ({"forget-class": -2}, ["forget-class", "-2", ">= -1"]),
        ({"forget-class": -1}, ["forget-class = -1", "no deletion request"]),
        ({"num-clients": 5000}, ["num-clients", "5000", "1437"]),
        ({"dataset": "npz"}, ["data-path", "npz"]),
        ({"dataset": "npz", "data-path": "/nonexistent/x.npz"}, ["data-path", "/nonexistent/x.npz", "no such file"]),
        ({"partitioner": "pathological", "classes-per-client": 11}, ["classes-per-client", "11", "10"]),
        ({"name": "../escape"}, ["name", "'../escape'", "letters"]),
        ({"forget-client": 10}, ["forget-client", "10", "0..9"]),
        ({"dataset": "synthetic", "synthetic-shape": "1,10000,10000"}, ["synthetic-shape", "'1,10000,10000'", "GiB"]),
        ({"forget-client": 1, "forget-samples": 0.5}, ["forget-client = 1", "forget-samples = 0.5", "one request"]),
        ({"forget-client": 1, "forget-class": 3}, ["forget-class = 3", "forget-client", "set forget-class = -1"]),
        ({"forget-samples": 1.5}, ["forget-samples", "1.5", "[0, 1]"]),
        ({"forget-samples": 0.2, "forget-samples-path": "x.txt"}, ["forget-samples = 0.2", "one request"]),
        ({"forget-samples-path": "/nonexistent/f.txt"}, ["forget-samples-path", "/nonexistent/f.txt", "cannot read"]),
        ({"forget-client": 1, "unlearn-methods": "fucrt"}, ["'fucrt'", "client requests", "class"]),
    ],
)
def test_each_bad_value_gets_one_line_naming_key_value_and_allowed(values, fragments):
    with pytest.raises(cfg.ConfigError) as err:
        check_experiment(values)
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_and_malformed_experiment_files(tmp_path):
    with pytest.raises(cfg.ConfigError, match="no such file"):
        cfg.load_experiment_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("num-clients = = 3\n")
    with pytest.raises(cfg.ConfigError, match="not valid TOML"):
        cfg.load_experiment_file(bad)
    nested = tmp_path / "nested.toml"
    nested.write_text("[section]\nseed = 1\n")
    with pytest.raises(cfg.ConfigError, match="tables are not allowed"):
        cfg.load_experiment_file(nested)


def test_experiment_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "my-exp.toml"
    path.write_text("seed = 3\n")
    assert cfg.load_experiment_file(path) == {"seed": 3, "name": "my-exp"}


def test_run_config_parses_toml_literals_and_bare_words():
    parsed = cfg.parse_run_config("num-clients=4 dirichlet-alpha=0.1 dataset='digits' partitioner=iid")
    assert parsed == {"num-clients": 4, "dirichlet-alpha": 0.1, "dataset": "digits", "partitioner": "iid"}
    with pytest.raises(cfg.ConfigError, match="key=value"):
        cfg.parse_run_config("num-clients")


def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import ray

    monkeypatch.chdir(tmp_path)
    code = main(["run", "--run-config", "dirichlet-alpha=-1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "dirichlet-alpha = -1.0" in err
    assert list(tmp_path.iterdir()) == []
    assert not ray.is_initialized()


def test_cli_missing_experiment_file_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "nope.toml"]) == 2
    assert "nope.toml" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_readme_documents_every_key_and_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    for name in cfg.SCHEMA:
        assert f"`{name}`" in readme, name
    assert "make run" in readme and "make test" in readme


def test_method_variants_parse_and_are_checked():
    config = cfg.validate({"unlearn-methods": "finetune, fucrt[fucrt-lambda-local=0;fucrt-temperature=0.1], fucrt"})
    assert cfg.method_variants(config) == [
        ("finetune", "finetune", {}),
        ("fucrt[fucrt-lambda-local=0;fucrt-temperature=0.1]", "fucrt", {"fucrt-lambda-local": 0, "fucrt-temperature": 0.1}),
        ("fucrt", "fucrt", {}),
    ]
    for bad, fragment in [
        ("fucrt[fucrt-temperature=-1]", "fucrt-temperature = -1.0: must be a finite number > 0"),
        ("fucrt[seed=3]", "cannot set seed"),
        ("fucrt[bogus=1]", "cannot set bogus"),
        ("fin etune", "is not of the form"),
        ("fucrt, fucrt", "names a method twice"),
    ]:
        with pytest.raises(cfg.ConfigError, match=re.escape(fragment)):
            check_experiment({"unlearn-methods": bad})


@pytest.mark.parametrize("method, deletion, supported", [
    ("fucrt", {"forget-client": 1, "forget-class": -1}, "class, sequential"),
    ("head-tilt", {"forget-samples": 0.2, "forget-class": -1}, "class"),
    ("head-tilt", {"forget-class": 3, "then-forget-classes": "5"}, "class"),
    ("gradient-ascent", {"forget-class": 3, "then-forget-classes": "5"}, "client, sample"),
    ("federaser", {"forget-class": 3}, "client"),
    ("gradient-ascent", {"forget-class": 3}, "client, sample"),
])
def test_methods_refuse_requests_they_do_not_support(method, deletion, supported):
    with pytest.raises(cfg.ConfigError, match=rf"method '{method}' does not support .* it supports: {supported}$"):
        check_experiment({"unlearn-methods": method, **deletion})


def test_every_method_is_registered_with_its_request_kinds():
    from fedunlearn.strategies.methods import available

    kinds = available()
    assert kinds["head-tilt"] == frozenset({"class"}) and kinds["federaser"] == frozenset({"client"})
    assert kinds["fucrt"] == frozenset({"class", "sequential"})
    for name in ("finetune", "not", "not-all", "not-last", "noise", "reinit", "retrain"):
        assert kinds[name] == {"class", "client", "sample", "sequential"}


def test_a_client_request_on_top_of_a_class_experiment_file():
    values = cfg.load_experiment_file(ROOT / "experiments" / "default.toml")
    values.update(cfg.parse_run_config("forget-client=2 forget-class=-1 unlearn-methods=finetune"))
    config = check_experiment(values)
    assert cfg.request_kind(config) == "client"


def test_sequential_requests_from_the_command_line_and_from_a_file(tmp_path):
    # The shell strips the quotes of then-forget-classes='5': the integer is taken as the one-item list.
    config = check_experiment(cfg.parse_run_config("forget-class=3 then-forget-classes='5'"))
    assert cfg.request_kind(config) == "sequential" and cfg.class_sequence(config) == [3, 5]
    experiment = tmp_path / "seq.toml"
    experiment.write_text("forget-class = 3\nthen-forget-classes = [5, 7]\n")
    config = check_experiment(cfg.load_experiment_file(experiment))
    assert config["then-forget-classes"] == "5,7" and cfg.class_sequence(config) == [3, 5, 7]
    with pytest.raises(cfg.ConfigError, match=r"then-forget-classes = '12': must be class labels .* \(0\.\.9\)"):
        check_experiment({"then-forget-classes": "12"})
    with pytest.raises(cfg.ConfigError, match="forgets 10 of 10 classes; at least one class must remain"):
        check_experiment({"forget-class": 0, "then-forget-classes": "1,2,3,4,5,6,7,8,9"})


def test_sample_files_are_checked_before_anything_runs(tmp_path):
    out_of_range = tmp_path / "far.txt"
    out_of_range.write_text("5\n99999\n")
    with pytest.raises(cfg.ConfigError, match=r"indices must lie in 0\.\.1436"):
        check_experiment({"forget-samples-path": str(out_of_range), "forget-class": -1})
    spread = tmp_path / "spread.txt"
    spread.write_text("\n".join(str(i) for i in range(0, 1400, 100)))
    with pytest.raises(cfg.ConfigError, match="gradient-ascent needs the samples of one client"):
        check_experiment({"forget-samples-path": str(spread), "forget-class": -1, "unlearn-methods": "gradient-ascent"})
    assert check_experiment({"forget-samples-path": str(spread), "forget-class": -1,
                             "unlearn-methods": "not"})["forget-samples-path"] == str(spread)


def test_a_wrong_ray_address_fails_fast_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    import socket
    import threading
    import time

    from fedunlearn.cli import main
    from fedunlearn.runtime import cluster

    out = tmp_path / "out"
    start = time.monotonic()
    assert main(["run", "--run-config", "ray-address='127.0.0.1:1'", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ray-address = '127.0.0.1:1': nothing answers there" in err
    assert time.monotonic() - start < 10 and not out.exists()
    assert main(["run", "--run-config", "ray-address='not-an-address'", "--out", str(out)]) == 2
    assert "must be host:port" in capsys.readouterr().err

    # Something listens, but it is no Ray cluster: the probe gives up after PROBE_SECONDS.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: [server.accept() for _ in range(20)], daemon=True).start()
    monkeypatch.setattr(cluster, "PROBE_SECONDS", 8.0)
    address = f"127.0.0.1:{server.getsockname()[1]}"
    start = time.monotonic()
    assert main(["run", "--run-config", f"ray-address='{address}'", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"ray-address = '{address}'" in err and time.monotonic() - start < 20
    assert not out.exists()
    server.close()


def test_a_method_without_keys_claims_no_prefix_so_noise_floor_stays_an_experiment_key():
    import fedunlearn.strategies.methods  # noqa: F401  (registers every method, "noise" among them)

    from fedunlearn.config import is_method_key, variant_keys

    assert not is_method_key("noise-floor") and "noise-floor" not in variant_keys()
    assert is_method_key("salun-ratio") and is_method_key("tilt-beta")
