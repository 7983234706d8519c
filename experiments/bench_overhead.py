"""Benchmark: what Flower on Ray costs over a plain single-process PyTorch loop doing the same FedAvg job.

Both sides train the same model on the same clients' data with the same seeds, local steps and
aggregation order, so they must end at the same weights (the script checks). It prints, for each
repeat and side, the wall time, the start-up (time before the first round starts), the median
steady-state round time (rounds 2..R) and the peak resident memory of the whole process tree (Ray's
workers included), then the ratios, and writes them to experiments/results/overhead.md.

    python experiments/bench_overhead.py [--repeats 3] [--run-config "num-server-rounds=15"]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedunlearn.cli import experiment_config  # noqa: E402
from fedunlearn.federation import Federation  # noqa: E402
from fedunlearn.models import build_model  # noqa: E402
from fedunlearn.progress import SilentProgress  # noqa: E402
from fedunlearn.training import TrainSettings, derive_seed, train  # noqa: E402
from strategies.flow import initial_model  # noqa: E402

PHASE = "original"


class PeakMemory:
    """Samples the summed RSS of this process and all its descendants every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.02)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def plain_loop(config: dict) -> tuple[dict, list[float], float]:
    """FedAvg in one process: every client in partition order, weighted average by sample count."""
    federation = Federation.from_config(config)
    data = federation.data
    state = initial_model(config, federation).to_torch_state_dict()
    settings = TrainSettings.from_config(config)
    model = build_model(config["model"], data.input_shape, data.num_classes)
    round_seconds = []
    start = time.perf_counter()
    for server_round in range(1, config["num-server-rounds"] + 1):
        round_start = time.perf_counter()
        states, weights = [], []
        for client in range(federation.num_clients):
            x, y = federation.client_arrays(client, "all")
            model.load_state_dict(state)
            train(model, x, y, settings, derive_seed(config["seed"], PHASE, server_round, client))
            states.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
            weights.append(len(y))
        total = sum(weights)
        state = {k: torch.from_numpy(sum(s[k] * (w / total) for s, w in zip(states, weights)).astype(np.float32))
                 for k in states[0]}
        round_seconds.append(time.perf_counter() - round_start)
    return state, round_seconds, time.perf_counter() - start


def flower_on_ray(config: dict) -> tuple[dict, list[float], float]:
    """The same job as one FedAvg phase of the ServerApp, run with Flower's simulation on Ray."""
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from clients.client_app import app as client_app
    from strategies.flow import identify_clients, wait_for_clients
    from strategies.session import FederatedSession

    out: dict = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context):
        federation = Federation.from_config(config)
        clients = identify_clients(grid, wait_for_clients(grid, config["num-clients"]), config)
        session = FederatedSession(grid, config, SilentProgress(), clients)
        out["result"] = session.run_phase(PHASE, initial_model(config, federation), config["num-server-rounds"], "all")

    start = time.perf_counter()
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=config["num-clients"],
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"logging_level": "error", "log_to_driver": False,
                                                 "address": "local"}})
    wall = time.perf_counter() - start
    result = out["result"]
    return result.arrays.to_torch_state_dict(), [h["round-seconds"] for h in result.history], wall


def summarise(rounds: list[float], wall: float) -> dict:
    """Steady-state round = median of rounds 2..R; start-up = everything else (wall - R x round)."""
    steady = statistics.median(rounds[1:] or rounds)
    return {"wall": wall, "startup": max(0.0, wall - len(rounds) * steady), "round": steady}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "default.toml"))
    parser.add_argument("--run-config", default="")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "overhead.md"))
    args = parser.parse_args()
    logging.getLogger("flwr").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    torch.set_num_threads(1)  # what each simulated client gets (one CPU per Ray actor)

    config = experiment_config(args.experiment, args.run_config)
    rows = []
    for repeat in range(1, args.repeats + 1):
        for side, fn in (("plain", plain_loop), ("flower", flower_on_ray)):
            with PeakMemory() as memory:
                state, rounds, wall = fn(config)
            row = {"repeat": repeat, "side": side, **summarise(rounds, wall), "peak_mb": memory.peak / 2**20,
                   "state": state}
            rows.append(row)
            print(f"repeat {repeat} {side:<6} wall {wall:6.2f} s  start-up {row['startup']:5.2f} s  "
                  f"round {row['round']:.3f} s  peak {row['peak_mb']:7.0f} MiB", flush=True)

    plain = [r for r in rows if r["side"] == "plain"]
    flower = [r for r in rows if r["side"] == "flower"]
    max_diff = max(float((p["state"][k] - f["state"][k]).abs().max())
                   for p, f in zip(plain, flower) for k in p["state"])

    def stats(side_rows, key):
        values = [r[key] for r in side_rows]
        return min(values), statistics.median(values), max(values)

    lines = [
        "# Overhead of Flower on Ray over a plain PyTorch loop",
        "",
        "The same FedAvg job on both sides: same data, partition, model, seeds, local steps and aggregation "
        "order. Written by `experiments/bench_overhead.py`; numbers are min / median / max over repeats.",
        "",
        f"- Command: `python experiments/bench_overhead.py --experiment {Path(args.experiment).relative_to(ROOT)}"
        f" --repeats {args.repeats}" + (f" --run-config \"{args.run_config}\"" if args.run_config else "") + "`",
        f"- Config: dataset {config['dataset']}, model {config['model']}, {config['num-clients']} clients "
        f"({config['partitioner']}, alpha {config['dirichlet-alpha']}), {config['num-server-rounds']} rounds, "
        f"{config['local-epochs']} local epochs, batch {config['batch-size']}, seed {config['seed']}",
        f"- Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; Python {platform.python_version()}, torch "
        f"{torch.__version__}, flwr {_version('flwr')}, ray {_version('ray')}",
        "- Both sides use one torch thread per client training; Ray runs as many clients at once as it has "
        "CPUs (one CPU per client), the plain loop runs them one after another.",
        "- Round = median of rounds 2..R (steady state); start-up = wall - R x round (Ray and actor start, "
        "first-round warm-up, data loading, shutdown); peak = summed RSS of the process tree, Ray's processes "
        "included.",
        "",
        "| measure | plain loop | Flower on Ray | ratio (Flower / plain, medians) |",
        "|---|---|---|---|",
    ]
    for key, label, unit in (("wall", "wall time", "s"), ("startup", "start-up", "s"),
                             ("round", "steady-state round", "s"), ("peak_mb", "peak memory", "MiB")):
        p, f = stats(plain, key), stats(flower, key)
        fmt = "{:.0f}" if unit == "MiB" else "{:.3f}"
        cell = lambda t: " / ".join(fmt.format(v) for v in t) + f" {unit}"  # noqa: E731
        ratio = "-" if key == "startup" else f"{f[1] / p[1]:.2f}x"  # the plain loop has next to no start-up
        lines.append(f"| {label} | {cell(p)} | {cell(f)} | {ratio} |")
    lines += ["", f"Largest absolute difference between the two sides' final weights: {max_diff:.2e}.", ""]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    raise SystemExit(main())
