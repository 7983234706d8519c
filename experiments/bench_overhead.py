"""Benchmark: what Flower on Ray costs over a plain single-process PyTorch loop doing the same work.

Three phases on both sides: the original FedAvg training, NoT (negate the first layer, then FedAvg on
the retained data) and FUCRT (the selection round, then transformation rounds). Both sides run the
same client computations (the same pure functions, seeds, local steps and aggregation order), so they
must end at the same weights (the script checks, phase by phase). It prints, for each repeat and side,
the wall time, the start-up (wall time outside the phases), each phase's median steady-state round
(rounds 2..R) and time, and the peak resident memory of the whole process tree (Ray's workers
included), then the ratios, and writes them to experiments/results/overhead.md.

    python experiments/bench_overhead.py [--repeats 3] [--run-config "unlearn-rounds=10"]
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

from fedunlearn import negation  # noqa: E402
from fedunlearn.cli import experiment_config  # noqa: E402
from fedunlearn.federation import Federation  # noqa: E402
from fedunlearn.fucrt import (  # noqa: E402
    AlignmentSettings,
    aggregate_prototypes,
    client_selection,
    client_transformation,
    global_transformation_set,
)
from fedunlearn.models import build_model  # noqa: E402
from fedunlearn.progress import SilentProgress  # noqa: E402
from fedunlearn.training import TrainSettings, derive_seed, train  # noqa: E402
from strategies.flow import initial_model  # noqa: E402

PHASES = ("original", "not", "fucrt")


class PeakMemory:
    """Samples the summed RSS of this process and all its descendants every 20 ms."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
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
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()


def _average(states: list[dict], weights: list[int]) -> dict:
    total = sum(weights)
    return {k: torch.from_numpy(sum(s[k] * (w / total) for s, w in zip(states, weights)).astype(np.float32))
            for k in states[0]}


def _numpy_state(model) -> dict:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def plain_fedavg(config: dict, federation: Federation, state: dict, rounds: int, view: str, phase: str):
    """FedAvg in one process: every client in partition order, weighted average by sample count."""
    data = federation.data
    settings = TrainSettings.from_config(config)
    model = build_model(config["model"], data.input_shape, data.num_classes)
    round_seconds = []
    for server_round in range(1, rounds + 1):
        round_start = time.perf_counter()
        states, weights = [], []
        for client in range(federation.num_clients):
            x, y = federation.client_arrays(client, view)
            model.load_state_dict(state)
            train(model, x, y, settings, derive_seed(config["seed"], phase, server_round, client))
            states.append(_numpy_state(model))
            weights.append(len(y))
        state = _average(states, weights)
        round_seconds.append(time.perf_counter() - round_start)
    return state, round_seconds


def plain_fucrt(config: dict, federation: Federation, state: dict, rounds: int):
    """FUCRT in one process: the selection round, then transformation rounds (models averaged by sample
    count, prototypes by class count), with the client functions the ClientApp calls."""
    data, forget_class = federation.data, federation.request.forget_class
    settings, alignment = TrainSettings.from_config(config), AlignmentSettings.from_config(config)
    model = build_model(config["model"], data.input_shape, data.num_classes)
    model.load_state_dict(state)
    selections = [client_selection(model, *federation.client_arrays(c, "all"), forget_class, data.num_classes,
                                   config["fucrt-min-samples"], config["fucrt-select-threshold"])
                  for c in range(federation.num_clients)]
    classes = global_transformation_set([list(np.flatnonzero(s.proposed)) for s in selections],
                                        [s.second_sums for s in selections])
    # What travels is float32, as in the ClientApp's replies.
    prototypes, counts = aggregate_prototypes([s.sums.astype(np.float32) for s in selections],
                                              [s.counts.astype(np.float32) for s in selections])
    round_seconds = []
    for server_round in range(1, rounds + 1):
        round_start = time.perf_counter()
        present = counts.copy()
        present[forget_class] = 0
        states, weights, sums, class_counts = [], [], [], []
        for client in range(federation.num_clients):
            model.load_state_dict(state)
            n, _, client_sums, client_counts = client_transformation(
                model, *federation.client_arrays(client, "all"), forget_class, classes,
                prototypes.astype(np.float32), present.astype(np.float32), settings, alignment,
                derive_seed(config["seed"], "fucrt", server_round, client))
            states.append(_numpy_state(model))
            weights.append(n)
            sums.append(client_sums.astype(np.float32))
            class_counts.append(client_counts.astype(np.float32))
        state = _average(states, weights)
        prototypes, counts = aggregate_prototypes(sums, class_counts)
        round_seconds.append(time.perf_counter() - round_start)
    return state, round_seconds


def plain_loop(config: dict) -> dict:
    """The three phases in one process: {phase: (final state, round seconds, phase seconds)}, and wall."""
    start = time.perf_counter()
    federation = Federation.from_config(config)
    out = {}
    phase_start = time.perf_counter()
    original, rounds = plain_fedavg(config, federation, initial_model(config, federation).to_torch_state_dict(),
                                    config["num-server-rounds"], "all", "original")
    out["original"] = (original, rounds, time.perf_counter() - phase_start)
    phase_start = time.perf_counter()
    model = build_model(config["model"], federation.data.input_shape, federation.data.num_classes)
    names = negation.select_parameters(model, config["not-layers"], config["not-negate-bias"])
    state, rounds = plain_fedavg(config, federation, negation.negate(original, names), config["unlearn-rounds"],
                                 "retain", "not")
    out["not"] = (state, rounds, time.perf_counter() - phase_start)
    phase_start = time.perf_counter()
    state, rounds = plain_fucrt(config, federation, original, config["unlearn-rounds"])
    out["fucrt"] = (state, rounds, time.perf_counter() - phase_start)
    return {"phases": out, "wall": time.perf_counter() - start}


def flower_on_ray(config: dict) -> dict:
    """The same three phases as the ServerApp runs them (the methods' own classes), on Flower's simulation."""
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    from clients.client_app import app as client_app
    from strategies import methods
    from strategies.flow import identify_clients, wait_for_clients
    from strategies.session import FederatedSession

    out: dict = {}
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context):
        federation = Federation.from_config(config)
        clients = identify_clients(grid, wait_for_clients(grid, config["num-clients"]), config)
        session = FederatedSession(grid, config, SilentProgress(), clients)
        phase_start = time.perf_counter()
        original = session.run_phase("original", initial_model(config, federation), config["num-server-rounds"], "all")
        out["original"] = (original, time.perf_counter() - phase_start)
        for name in ("not", "fucrt"):
            phase_start = time.perf_counter()
            result = methods.get(name)(config, name).unlearn(session, original)
            out[name] = (result, time.perf_counter() - phase_start)

    start = time.perf_counter()
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=config["num-clients"],
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"logging_level": "error", "log_to_driver": False,
                                                 "address": "local"}})
    wall = time.perf_counter() - start
    phases = {name: (result.arrays.to_torch_state_dict(),
                     [h["round-seconds"] for h in result.history if "round-seconds" in h], seconds)
              for name, (result, seconds) in out.items()}
    return {"phases": phases, "wall": wall}


def summarise(result: dict) -> dict:
    """Per phase: the steady-state round (median of rounds 2..R) and the phase's seconds; start-up = wall
    time outside the phases (Ray and actor start, identifying clients, shutdown)."""
    row = {"wall": result["wall"], "startup": result["wall"] - sum(p[2] for p in result["phases"].values())}
    for phase, (_, rounds, seconds) in result["phases"].items():
        row[f"{phase}.round"] = statistics.median(rounds[1:] or rounds)
        row[f"{phase}.phase"] = seconds
    return row


MEASURES = (
    ("wall", "wall time", "s"),
    ("startup", "start-up (outside the phases)", "s"),
    ("original.round", "original: steady-state round", "s"),
    ("original.phase", "original: phase (first round's warm-up included)", "s"),
    ("not.round", "NoT: steady-state round", "s"),
    ("not.phase", "NoT: phase (negation + fine-tuning)", "s"),
    ("fucrt.round", "FUCRT: steady-state round", "s"),
    ("fucrt.phase", "FUCRT: phase (selection round included)", "s"),
    ("peak_mb", "peak memory", "MiB"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "default.toml"))
    parser.add_argument("--run-config", default="unlearn-rounds=10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "overhead.md"))
    parser.add_argument("--sides", default="plain,flower",
                        help="'plain,flower' (the comparison, written to --out) or one side alone (for a profiler)")
    args = parser.parse_args()
    logging.getLogger("flwr").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    torch.set_num_threads(1)  # what each simulated client gets (one CPU per Ray actor)

    config = experiment_config(args.experiment, args.run_config)
    if config["fraction-train"] < 1 or config["fault-rate"] > 0:
        raise SystemExit("bench_overhead: the plain loop trains every client every round; "
                         "use fraction-train = 1 and fault-rate = 0")
    sides = [side.strip() for side in args.sides.split(",")]
    if sorted(sides) not in (["flower"], ["plain"], ["flower", "plain"]):
        raise SystemExit(f"bench_overhead: --sides {args.sides!r}: must be 'plain,flower', 'plain' or 'flower'")
    rows = []
    for repeat in range(1, args.repeats + 1):
        for side, fn in (("plain", plain_loop), ("flower", flower_on_ray)):
            if side not in sides:
                continue
            with PeakMemory(enabled=len(sides) == 2) as memory:  # a profiled run samples no memory
                result = fn(config)
            row = {"repeat": repeat, "side": side, **summarise(result), "peak_mb": memory.peak / 2**20,
                   "states": {phase: p[0] for phase, p in result["phases"].items()}}
            rows.append(row)
            print(f"repeat {repeat} {side:<6} wall {row['wall']:6.2f} s  start-up {row['startup']:5.2f} s  "
                  + "  ".join(f"{phase} round {row[f'{phase}.round']:.3f} s" for phase in PHASES)
                  + f"  peak {row['peak_mb']:7.0f} MiB", flush=True)

    if len(sides) == 1:
        return 0  # one side alone is for profiling: nothing to compare
    plain = [r for r in rows if r["side"] == "plain"]
    flower = [r for r in rows if r["side"] == "flower"]
    max_diff = {phase: max(float((p["states"][phase][k] - f["states"][phase][k]).abs().max())
                           for p, f in zip(plain, flower) for k in p["states"][phase]) for phase in PHASES}

    def stats(side_rows, key):
        values = [r[key] for r in side_rows]
        return min(values), statistics.median(values), max(values)

    lines = [
        "# Overhead of Flower on Ray over a plain PyTorch loop",
        "",
        "The same work on both sides: the original FedAvg training, then NoT (first layer negated, FedAvg on the "
        "retained data) and FUCRT (selection round, then transformation rounds), each client calling the same "
        "functions with the same data, partition, model, seeds, local steps and aggregation order. Written by "
        "`experiments/bench_overhead.py`; numbers are min / median / max over repeats.",
        "",
        f"- Command: `python experiments/bench_overhead.py --experiment {Path(args.experiment).relative_to(ROOT)}"
        f" --repeats {args.repeats} --run-config \"{args.run_config}\"`",
        f"- Config: dataset {config['dataset']}, model {config['model']}, {config['num-clients']} clients "
        f"({config['partitioner']}, alpha {config['dirichlet-alpha']}), {config['num-server-rounds']} training rounds, "
        f"{config['unlearn-rounds']} unlearning rounds, {config['local-epochs']} local epochs, batch "
        f"{config['batch-size']}, forget class {config['forget-class']}, seed {config['seed']}",
        f"- Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; Python {platform.python_version()}, torch "
        f"{torch.__version__}, flwr {_version('flwr')}, ray {_version('ray')}",
        "- Both sides use one torch thread per client training; Ray runs as many clients at once as it has "
        "CPUs (one CPU per client), the plain loop runs them one after another.",
        "- Round = median of rounds 2..R of the phase (steady state); a phase's time includes everything the "
        "phase does; start-up = wall time outside the phases (Ray and actor start, identifying the clients, "
        "shutdown); peak = summed RSS of the process tree, Ray's processes included.",
        "",
        "| measure | plain loop | Flower on Ray | ratio (Flower / plain, medians) |",
        "|---|---|---|---|",
    ]
    for key, label, unit in MEASURES:
        p, f = stats(plain, key), stats(flower, key)
        fmt = "{:.0f}" if unit == "MiB" else "{:.3f}"
        cell = lambda t: " / ".join(fmt.format(v) for v in t) + f" {unit}"  # noqa: E731
        ratio = "-" if key == "startup" else f"{f[1] / p[1]:.2f}x"  # the plain loop has next to no start-up
        lines.append(f"| {label} | {cell(p)} | {cell(f)} | {ratio} |")
    lines += ["", "Largest absolute difference between the two sides' final weights: "
              + ", ".join(f"{phase} {diff:.2e}" for phase, diff in max_diff.items()) + ".", ""]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    raise SystemExit(main())
