"""The device plumbing, on the CPU: names resolved and refused, Ray's resources, the per-process GPU set-up, and the
training loop on an explicit device and in mixed precision."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from fedunlearn.api import client_resources
from fedunlearn.cli import main
from fedunlearn.config import validate
from fedunlearn.errors import ConfigError
from fedunlearn.learning.models import build_model
from fedunlearn.learning.training import TrainSettings, predict, train
from fedunlearn.runtime import device


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: False)


def test_auto_is_the_accelerator_torch_sees_else_the_cpu(monkeypatch, no_accelerator):
    assert device.resolve("auto") == torch.device("cpu") and device.resolve("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.resolve("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_mps_available", lambda: True)
    assert device.resolve("auto") == torch.device("mps")


@pytest.mark.parametrize("name", ["cuda", "cuda:1", "mps"])
def test_a_device_torch_does_not_see_is_one_line_naming_it_and_what_torch_sees(name, no_accelerator):
    with pytest.raises(ConfigError, match=rf"^device = '{name}': torch sees no accelerator, only the CPU \(torch "
                                          r".*\); use 'auto' or 'cpu'$"):
        device.resolve(name)


def test_a_device_name_that_is_none_is_refused_by_the_configuration():
    with pytest.raises(ConfigError, match=r"^device = 'gpu': must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'$"):
        validate({"device": "gpu"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_the_command_refuses_a_missing_gpu_before_anything_runs(tmp_path, capsys):
    code = main(["run", "--run-config", "device='cuda'", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("fedunlearn: error: device = 'cuda': torch sees")
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_client_gpus_reach_rays_resources_and_need_a_gpu(no_accelerator):
    config = validate({"client-cpus": 0.5, "client-gpus": 0.25})
    assert client_resources(config) == {"num_cpus": 0.5, "num_gpus": 0.25}
    assert client_resources(validate({})) == {"num_cpus": 1.0, "num_gpus": 0.0}
    with pytest.raises(ConfigError, match=r"^client-gpus = 0.25: gives each client a GPU share, but device = 'cpu'"):
        device.check_client_gpus(0.25, "cpu", "")
    with pytest.raises(ConfigError, match=r"^client-gpus = 0.25: Ray would wait for a GPU that is not here"):
        device.check_client_gpus(0.25, "auto", "")
    device.check_client_gpus(0.25, "auto", "10.0.0.5:6379")  # a cluster's GPU nodes cannot be seen from here
    device.check_client_gpus(0.0, "cpu", "")


def test_a_simulated_client_that_ray_gave_no_gpu_works_on_the_cpu(monkeypatch):
    monkeypatch.setattr(device, "resolve", lambda name: torch.device("cuda"))
    gpus: list[int] = []
    fake_ray = types.SimpleNamespace(is_initialized=lambda: True, get_gpu_ids=lambda: gpus)
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    assert device.for_client("auto") == torch.device("cpu")
    gpus.append(0)  # client-gpus > 0: Ray assigned one
    assert device.for_client("auto") == torch.device("cuda")
    monkeypatch.delitem(sys.modules, "ray")  # a SuperNode: no Ray
    assert device.for_client("auto") == torch.device("cuda")


def test_a_cuda_process_gets_deterministic_kernels_and_its_memory_share(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda share, dev: calls.append((share, dev)))
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda on, warn_only: calls.append((on, warn_only)))
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    device.prepare.cache_clear()
    device.prepare(torch.device("cuda:0"), 0.25)
    device.prepare(torch.device("cuda:0"), 0.25)  # once per process
    device.prepare(torch.device("cpu"), 0.25)  # nothing to do on the CPU
    assert calls == [(True, True), (0.25, torch.device("cuda:0"))]
    assert torch.backends.cudnn.deterministic and __import__("os").environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    device.prepare.cache_clear()


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.random((n, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def test_training_on_an_explicit_device_leaves_the_model_on_the_cpu_and_amp_changes_the_arithmetic():
    x, y = _data()
    runs = {}
    for amp in (False, True):
        model = build_model("cnn", (1, 8, 8), 10, seed=0)
        loss = train(model, x, y, TrainSettings(1, 16, 0.05, 0.9, device="cpu", amp=amp), seed=1)
        assert np.isfinite(loss) and all(p.device.type == "cpu" for p in model.parameters())
        runs[amp] = (loss, predict(model, x, device="cpu")[0])
    plain = build_model("cnn", (1, 8, 8), 10, seed=0)
    assert train(plain, x, y, TrainSettings(1, 16, 0.05, 0.9), seed=1) == runs[False][0]  # cpu is the default
    assert runs[True][0] != runs[False][0]  # bfloat16 autocast: other rounding, close numbers
    assert runs[True][0] == pytest.approx(runs[False][0], rel=0.05)


def test_the_settings_of_a_configuration_carry_its_device_and_amp(no_accelerator):
    settings = TrainSettings.from_config(validate({"amp": True}))
    assert (settings.device, settings.amp) == ("cpu", True)
