"""fedunlearn from Python, the way a notebook calls it."""

import json

import pytest

import fedunlearn

SMALL = {"dataset": "digits", "model": "mlp", "num-clients": 3, "partitioner": "iid", "num-server-rounds": 4,
         "local-epochs": 1, "forget-class": 3, "unlearn-methods": "finetune", "unlearn-rounds": 1}


def test_bad_input_raises_one_exception_type_with_the_cli_message_before_anything_runs(tmp_path):
    with pytest.raises(fedunlearn.ConfigError) as bad:
        fedunlearn.run({**SMALL, "seed": -1}, out=tmp_path / "out")
    assert str(bad.value) == "seed = -1: must be a number >= 0" and isinstance(bad.value, fedunlearn.FedunlearnError)
    with pytest.raises(fedunlearn.FedunlearnError, match="unknown key"):
        fedunlearn.run(SMALL, {"no-such-key": 1})
    with pytest.raises(fedunlearn.FedunlearnError, match="experiment file '.*missing.toml': no such file"):
        fedunlearn.run(tmp_path / "missing.toml")
    with pytest.raises(fedunlearn.FedunlearnError, match="not a finished fedunlearn run"):
        fedunlearn.load_report(tmp_path)
    assert not (tmp_path / "out").exists()


def test_an_experiment_from_a_file_and_overrides_validates_like_the_cli(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('dataset = "digits"\nseeds = [0, 2]\nunlearn-methods = "finetune"\n')
    config = fedunlearn.experiment(path, "partitioner=iid seed=5", out=tmp_path / "o")
    assert config["name"] == "exp" and config["seeds"] == "0,2" and config["partitioner"] == "iid"
    assert config["out-dir"] == str(tmp_path / "o") and config["seed"] == 5
    assert fedunlearn.experiment(path, {"partitioner": "iid", "seed": 5}, out=tmp_path / "o") == config


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_notebook_runs_an_experiment_and_gets_the_report_back(tmp_path):
    report = fedunlearn.run(SMALL, {"seed": 2}, out=tmp_path / "run")
    assert report["run_dir"] == str(tmp_path / "run")
    assert report == json.loads((tmp_path / "run" / "report.json").read_text())
    assert report == fedunlearn.load_report(tmp_path / "run")
    assert report["experiment"]["seed"] == 2 and set(report["models"]) == {"original", "retrain", "finetune"}
    assert report["models"]["retrain"]["metrics"]["forget_acc"] <= 0.02
