"""Benchmark: what Flower on Ray costs over plain PyTorch loops doing the same work.

Three phases on every side: the original FedAvg training, NoT (negate the first layer, then FedAvg on
the retained data) and FUCRT (the selection round, then transformation rounds). Three sides: a plain
loop in one process (clients one after another), a plain loop on every core (each round's clients on a
pool of one process per core: the yardstick, the same SGD work spread over the whole machine), and
Flower on Ray. Every side runs the same client computations (the same pure functions, seeds, local
steps and aggregation order), so they end at the same weights (the script checks, phase by phase). It
prints, for each repeat and side, the wall time, the start-up (wall time outside the phases), each
phase's median steady-state round (rounds 2..R) and time, and the peak resident memory of the whole
process tree, then the ratios; writes them to experiments/results/overhead.md; and ends with two lines
(medians): the original training's steady-state round of Flower over the every-core loop, and
Flower's start-up.

    python experiments/bench_overhead.py [--repeats 3] [--run-config "unlearn-rounds=10"]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from commands import MEASURED_NOTE  # noqa: E402
from fedunlearn.strategies.flow import initial_model  # noqa: E402
from memory import PeakMemory  # noqa: E402

from fedunlearn.algorithms import negation  # noqa: E402
from fedunlearn.algorithms.fucrt import (  # noqa: E402
    AlignmentSettings,
    aggregate_prototypes,
    client_selection,
    client_transformation,
    global_transformation_set,
)
from fedunlearn.cli import experiment_config  # noqa: E402
from fedunlearn.data.federation import Federation  # noqa: E402
from fedunlearn.learning.models import build_model  # noqa: E402
from fedunlearn.learning.training import TrainSettings, derive_seed, train  # noqa: E402
from fedunlearn.runtime import environment  # noqa: E402
from fedunlearn.runtime.progress import SilentProgress  # noqa: E402

PHASES = ("original", "not", "fucrt")


def _average(states: list[dict], weights: list[int]) -> dict:
    total = sum(weights)
    return {k: torch.from_numpy(sum(s[k] * (w / total) for s, w in zip(states, weights)).astype(np.float32))
            for k in states[0]}


def _numpy_state(model) -> dict:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# One client's work, as the ClientApp does it (the same functions, seeds and data), for either plain side.

def _model(config: dict, state: dict):
    data = Federation.from_config(config).data
    model = build_model(config["model"], data.input_shape, data.num_classes)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})  # states travel as numpy arrays
    return model


def client_train(config: dict, client: int, state: dict, view: str, phase: str, server_round: int):
    federation = Federation.from_config(config)
    x, y = federation.client_arrays(client, view)
    model = _model(config, state)
    train(model, x, y, TrainSettings.from_config(config), derive_seed(config["seed"], phase, server_round, client))
    return _numpy_state(model), len(y)


def client_select(config: dict, client: int, state: dict):
    federation = Federation.from_config(config)
    data = federation.data
    return client_selection(_model(config, state), *federation.client_arrays(client, "all"),
                            federation.request.forget_class, data.num_classes, config["fucrt-min-samples"],
                            config["fucrt-select-threshold"])


def client_transform(config: dict, client: int, state: dict, classes: list, prototypes, present, server_round: int):
    federation = Federation.from_config(config)
    model = _model(config, state)
    n, _, sums, counts = client_transformation(
        model, *federation.client_arrays(client, "all"), federation.request.forget_class, classes, prototypes,
        present, TrainSettings.from_config(config), AlignmentSettings.from_config(config),
        derive_seed(config["seed"], "fucrt", server_round, client))
    return _numpy_state(model), n, sums.astype(np.float32), counts.astype(np.float32)


def sequential(fn, calls: list[tuple]) -> list:
    """Every client in partition order, one after another, in this process."""
    return [fn(*call) for call in calls]


def _pool_start(config: dict) -> None:
    torch.set_num_threads(1)  # one core per process, as Ray gives one CPU per client
    Federation.from_config(config)  # each process parses and partitions once, as each Ray worker does


class EveryCore:
    """The same client calls spread over one process per core (each with one torch thread); results come
    back in partition order, so the aggregation order, and the weights, are those of the sequential loop."""

    def __init__(self, config: dict, processes: int | None = None) -> None:
        from multiprocessing import get_context

        self.pool = get_context("spawn").Pool(processes or os.cpu_count(), initializer=_pool_start, initargs=(config,))

    def __call__(self, fn, calls: list[tuple]) -> list:
        return self.pool.starmap(fn, calls, chunksize=1)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def plain_fedavg(config: dict, federation: Federation, state: dict, rounds: int, view: str, phase: str, run=sequential,
                 on_round=None):
    """FedAvg: every client trains (``run`` decides where), weighted average by sample count in client order.
    ``on_round(server_round, state)``, when given, sees the model after each round (not timed)."""
    round_seconds = []
    for server_round in range(1, rounds + 1):
        round_start = time.perf_counter()
        numpy_state = {k: v.numpy() for k, v in state.items()}
        replies = run(client_train, [(config, c, numpy_state, view, phase, server_round)
                                     for c in range(federation.num_clients)])
        state = _average([r[0] for r in replies], [r[1] for r in replies])
        round_seconds.append(time.perf_counter() - round_start)
        if on_round is not None:
            on_round(server_round, state)
    return state, round_seconds


def plain_fucrt(config: dict, federation: Federation, state: dict, rounds: int, run=sequential):
    """FUCRT: the selection round, then transformation rounds (models averaged by sample count, prototypes by
    class count), with the client functions the ClientApp calls."""
    forget_class = federation.request.forget_class
    numpy_state = {k: v.numpy() for k, v in state.items()}
    selections = run(client_select, [(config, c, numpy_state) for c in range(federation.num_clients)])
    classes = [int(c) for c in global_transformation_set([list(np.flatnonzero(s.proposed)) for s in selections],
                                                         [s.second_sums for s in selections])]
    # What travels is float32, as in the ClientApp's replies.
    prototypes, counts = aggregate_prototypes([s.sums.astype(np.float32) for s in selections],
                                              [s.counts.astype(np.float32) for s in selections])
    round_seconds = []
    for server_round in range(1, rounds + 1):
        round_start = time.perf_counter()
        present = counts.copy()
        present[forget_class] = 0
        numpy_state = {k: v.numpy() for k, v in state.items()}
        replies = run(client_transform, [(config, c, numpy_state, classes, prototypes.astype(np.float32),
                                          present.astype(np.float32), server_round)
                                         for c in range(federation.num_clients)])
        state = _average([r[0] for r in replies], [r[1] for r in replies])
        prototypes, counts = aggregate_prototypes([r[2] for r in replies], [r[3] for r in replies])
        round_seconds.append(time.perf_counter() - round_start)
    return state, round_seconds


def plain_loop(config: dict, every_core: bool = False) -> dict:
    """The three phases without Flower: {phase: (final state, round seconds, phase seconds)}, and wall. With
    ``every_core``, the clients of a round run on a pool of one process per core (its start is start-up)."""
    start = time.perf_counter()
    run = EveryCore(config) if every_core else sequential
    try:
        federation = Federation.from_config(config)
        out = {}
        phase_start = time.perf_counter()
        original, rounds = plain_fedavg(config, federation, initial_model(config, federation).to_torch_state_dict(),
                                        config["num-server-rounds"], "all", "original", run)
        out["original"] = (original, rounds, time.perf_counter() - phase_start)
        phase_start = time.perf_counter()
        model = build_model(config["model"], federation.data.input_shape, federation.data.num_classes)
        names = negation.select_parameters(model, config["not-layers"], config["not-negate-bias"])
        state, rounds = plain_fedavg(config, federation, negation.negate(original, names), config["unlearn-rounds"],
                                     "retain", "not", run)
        out["not"] = (state, rounds, time.perf_counter() - phase_start)
        phase_start = time.perf_counter()
        state, rounds = plain_fucrt(config, federation, original, config["unlearn-rounds"], run)
        out["fucrt"] = (state, rounds, time.perf_counter() - phase_start)
    finally:
        if every_core:
            run.close()
    return {"phases": out, "wall": time.perf_counter() - start}


def every_core_loop(config: dict) -> dict:
    return plain_loop(config, every_core=True)


def flower_on_ray(config: dict) -> dict:
    """The same three phases as the ServerApp runs them (the methods' own classes), on Flower's simulation."""
    from fedunlearn.clients.client_app import app as client_app
    from fedunlearn.strategies import methods
    from fedunlearn.strategies.flow import identify_clients, wait_for_clients
    from fedunlearn.strategies.session import FederatedSession
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

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
                                                 "address": config["ray-address"] or "local"}})
    wall = time.perf_counter() - start
    phases = {name: (result.arrays.to_torch_state_dict(),
                     [h["round-seconds"] for h in result.history if "round-seconds" in h], seconds)
              for name, (result, seconds) in out.items()}
    return {"phases": phases, "wall": wall}


def patch_flower_scan(interval: float) -> None:
    """Replace Flower's ``add_messages_to_queue`` (which scans every node for a new message, then waits 0.1 s)
    by the same loop with another wait: a diagnosis of what the scan interval costs a round."""
    from flwr.server.superlink.fleet.vce import vce_api

    def add_messages_to_queue(state, queue, nodes_mapping, f_stop):
        while not f_stop.is_set():
            for node_id in nodes_mapping.keys():
                for message in state.get_message_ins(node_id=node_id, limit=1):
                    queue.put(message)
            f_stop.wait(interval)

    vce_api.add_messages_to_queue = add_messages_to_queue


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


SIDES = {"plain": plain_loop, "every-core": every_core_loop, "flower": flower_on_ray}
LABELS = {"plain": "plain loop, one process", "every-core": "plain loop, every core", "flower": "Flower on Ray"}


HEADER = [
    "# Overhead of Flower on Ray over plain PyTorch loops",
    "",
    MEASURED_NOTE,
    "",
    "The same work on every side: the original FedAvg training, then NoT (first layer negated, FedAvg on the "
    "retained data) and FUCRT (selection round, then transformation rounds), each client calling the same "
    "functions with the same data, partition, model, seeds, local steps and aggregation order. Written by "
    "`experiments/bench_overhead.py`, one section per experiment (a run rewrites its own section and keeps the "
    "others); numbers are min / median / max over repeats.",
    "",
    f"- Sides: the *plain loop, one process* trains the clients one after another with one torch thread; the "
    f"*plain loop, every core* runs each round's clients on a pool of {os.cpu_count()} processes (one per core, "
    "one torch thread each) and aggregates their replies in client order; *Flower on Ray* runs one client per "
    "CPU. The every-core loop is the yardstick: the same SGD work spread over the whole machine. Each side of each "
    "repeat runs in a fresh process, and the order of the sides turns with every repeat.",
    "- Round = median of rounds 2..R of the phase (steady state); a phase's time includes everything the "
    "phase does; start-up = wall time outside the phases (Ray and actor start or the pool's start, identifying "
    "the clients, shutdown); peak = summed proportional set size (PSS) of the process tree (Ray's processes or "
    "the pool included; a page shared by k processes counts 1/k in each), "
    f"sampled every {PeakMemory.INTERVAL:g} s.",
    "",
]


def section_title(experiment: str, run_config: str) -> tuple[Path, str]:
    """The experiment as a page shows it (relative to the project where it lies inside) and its section's title."""
    path = Path(experiment).resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return shown, f"## {shown}" + (f" ({run_config})" if run_config else "")


def trimmed(lines: list[str]) -> list[str]:
    """``lines`` without the blank lines at their end."""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def write_section(page: Path, title: str, lines: list[str], header: list[str] | None = None) -> None:
    """Write ``lines`` (which start with ``title``) into ``page`` in place of the section with that title, or
    after the others; the header is rewritten and the other sections are kept as they are."""
    sections: list[list[str]] = []
    if page.is_file():
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                sections.append([line])
            elif sections:
                sections[-1].append(line)
    kept = [section for section in sections if section[0] != title]
    position = next((i for i, section in enumerate(sections) if section[0] == title), len(kept))
    kept.insert(min(position, len(kept)), lines)
    body = [line for section in kept for line in [*trimmed(section), ""]]  # one blank line between sections
    text = "\n".join((HEADER if header is None else header) + body).rstrip("\n") + "\n"
    page.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "default.toml"))
    parser.add_argument("--run-config", default="unlearn-rounds=10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "overhead.md"))
    parser.add_argument("--flower-scan-interval", type=float, default=None,
                        help="diagnosis only: the interval (s) at which Flower's simulation engine looks for new "
                             "messages (0.1 in flwr/server/superlink/fleet/vce/vce_api.py), to measure what it costs "
                             "a round; fedunlearn's runs never change it")
    parser.add_argument("--side-out", help=argparse.SUPPRESS)  # internal: run one side, save its row there
    parser.add_argument("--sides", default="plain,every-core,flower",
                        help="the sides to run: all three (the comparison, written to --out) or one alone (for a "
                             "profiler)")
    args = parser.parse_args()
    logging.getLogger("flwr").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    torch.set_num_threads(1)  # what each simulated client gets (one CPU per Ray actor)

    if args.flower_scan_interval is not None:
        patch_flower_scan(args.flower_scan_interval)
    config = experiment_config(args.experiment, args.run_config)
    if config["fraction-train"] < 1 or config["fault-rate"] > 0:
        raise SystemExit("bench_overhead: the plain loop trains every client every round; "
                         "use fraction-train = 1 and fault-rate = 0")
    sides = [side.strip() for side in args.sides.split(",")]
    if not sides or set(sides) - set(SIDES) or (len(sides) > 1 and sorted(sides) != sorted(SIDES)):
        raise SystemExit(f"bench_overhead: --sides {args.sides!r}: must be {','.join(SIDES)} or one of them")
    if args.side_out:  # one side for the comparison, in a process of its own
        with PeakMemory() as memory:
            result = SIDES[sides[0]](config)
        row = {"side": sides[0], **summarise(result), "peak_mb": memory.peak / 2**20,
               "states": {phase: p[0] for phase, p in result["phases"].items()}}
        torch.save(row, args.side_out)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(1, args.repeats + 1):
            # Each side in a fresh process (a side run after another in one process came out up to 15% slower),
            # in an order that turns with every repeat.
            for side in sides[repeat - 1:] + sides[:repeat - 1]:
                if len(sides) == 1:
                    row = {"side": side, **summarise(SIDES[side](config)), "peak_mb": 0.0}  # for a profiler
                else:
                    out = Path(tmp) / f"{side}-{repeat}.pt"
                    subprocess.run([sys.executable, __file__, "--experiment", args.experiment, "--run-config",
                                    args.run_config, "--sides", side, "--side-out", str(out)]
                                   + (["--flower-scan-interval", str(args.flower_scan_interval)]
                                      if args.flower_scan_interval is not None else []), check=True)
                    row = torch.load(out, weights_only=False)
                row["repeat"] = repeat
                rows.append(row)
                print(f"repeat {repeat} {side:<10} wall {row['wall']:6.2f} s  start-up {row['startup']:5.2f} s  "
                      + "  ".join(f"{phase} round {row[f'{phase}.round']:.3f} s" for phase in PHASES)
                      + f"  peak {row['peak_mb']:7.0f} MiB", flush=True)
    if len(sides) == 1:
        return 0  # one side alone is for profiling: nothing to compare
    by_side = {side: [r for r in rows if r["side"] == side] for side in SIDES}
    max_diff = {phase: max(float((a["states"][phase][k] - b["states"][phase][k]).abs().max())
                           for side in ("every-core", "flower")
                           for a, b in zip(by_side["plain"], by_side[side]) for k in a["states"][phase])
                for phase in PHASES}

    def stats(side: str, key: str) -> tuple[float, float, float]:
        values = [r[key] for r in by_side[side]]
        return min(values), statistics.median(values), max(values)

    shown, title = section_title(args.experiment, args.run_config)
    lines = [
        title,
        "",
        f"- Command: `python experiments/bench_overhead.py --experiment {shown}"
        f" --repeats {args.repeats} --run-config \"{args.run_config}\"`",
        f"- Config: dataset {config['dataset']}, model {config['model']}, {config['num-clients']} clients "
        f"({config['partitioner']}, alpha {config['dirichlet-alpha']}), {config['num-server-rounds']} training rounds, "
        f"{config['unlearn-rounds']} unlearning rounds, {config['local-epochs']} local epochs, batch "
        f"{config['batch-size']}, forget class {config['forget-class']}, seed {config['seed']}",
        f"- Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; {environment.describe()}",
        "",
        f"| measure | {' | '.join(LABELS[s] for s in SIDES)} | Flower / every core | Flower / one process |",
        "|---|---|---|---|---|---|",
    ]
    for key, label, unit in MEASURES:
        cells = []
        for side in SIDES:
            fmt = "{:.0f}" if unit == "MiB" else "{:.3f}"
            cells.append(" / ".join(fmt.format(v) for v in stats(side, key)) + f" {unit}")
        ratios = ["-" if key == "startup" else f"{stats('flower', key)[1] / stats(side, key)[1]:.2f}x"
                  for side in ("every-core", "plain")]
        lines.append(f"| {label} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    lines += ["", "Largest absolute difference between the final weights of either plain side and Flower's: "
              + ", ".join(f"{phase} {diff:.2e}" for phase, diff in max_diff.items()) + ".", ""]
    write_section(Path(args.out), title, lines)
    print("\n".join(lines))
    print(f"round ratio, Flower / every-core plain loop: "
          f"{stats('flower', 'original.round')[1] / stats('every-core', 'original.round')[1]:.2f}x")
    print(f"start-up: {stats('flower', 'startup')[1]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
