"""Which model Fashion-MNIST's experiments use: accuracy and time per round of each candidate, measured.

Trains each candidate (the 2-conv CNN at a quarter and at half of its 32/64 width, and LeNet-5; one local
epoch, 20 rounds each) with plain FedAvg over 10 clients under Dirichlet(0.5), the federation of
experiments/fashion-mnist.toml, on every core (bench_overhead.py's every-core loop: the same client work as the
ClientApp's, without Flower), and records the test accuracy after every round and each round's wall time.
Writes experiments/results/fashion-mnist-models.md.

    python experiments/choose_model.py [--out PAGE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from bench_overhead import EveryCore, plain_fedavg  # noqa: E402
from commands import MEASURED_NOTE  # noqa: E402
from fedunlearn.strategies.flow import initial_model  # noqa: E402

from fedunlearn.cli import experiment_config  # noqa: E402
from fedunlearn.data.federation import Federation  # noqa: E402
from fedunlearn.learning.models import build_model  # noqa: E402
from fedunlearn.learning.training import predict  # noqa: E402
from fedunlearn.runtime import environment  # noqa: E402

CANDIDATES = (("cnn2-8", 1, 20), ("cnn2-16", 1, 20), ("lenet5", 1, 20))  # model, local epochs, rounds
ANCHOR = 0.88


def accuracy(config: dict, federation: Federation, state: dict) -> float:
    data = federation.data
    model = build_model(config["model"], data.input_shape, data.num_classes)
    model.load_state_dict(state)
    torch.set_num_threads(2)
    probs, _ = predict(model, data.x_test)
    torch.set_num_threads(1)
    return float(np.mean(probs.argmax(1) == data.y_test))


def measure(model: str, epochs: int, rounds: int) -> dict:
    config = experiment_config(str(ROOT / "experiments" / "fashion-mnist.toml"),
                               {"model": model, "local-epochs": epochs, "num-server-rounds": rounds})
    federation = Federation.from_config(config)
    state = initial_model(config, federation).to_torch_state_dict()
    pool = EveryCore(config)
    accuracies = []

    def after(server_round: int, state: dict) -> None:
        accuracies.append(accuracy(config, federation, state))
        print(f"{model} e{epochs} round {server_round}: test accuracy {accuracies[-1]:.4f}", flush=True)

    try:  # the original phase's own seeds: the same model as the experiment's original after each round
        _, seconds = plain_fedavg(config, federation, state, rounds, "all", "original", pool, on_round=after)
    finally:
        pool.close()
    parameters = sum(p.numel() for p in build_model(model, (1, 28, 28), 10).parameters())
    return {"model": model, "epochs": epochs, "parameters": parameters, "accuracy": accuracies, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "fashion-mnist-models.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = [measure(*candidate) for candidate in CANDIDATES]
    lines = [
        "# Fashion-MNIST: which model, how many rounds",
        "",
        MEASURED_NOTE,
        "",
        "Written by `python experiments/choose_model.py`. Plain FedAvg over the federation of "
        "`experiments/fashion-mnist.toml` (10 clients, Dirichlet 0.5, seed 0, batch 32, SGD lr 0.05 momentum 0.9), "
        "one process per core, the ClientApp's client work; test accuracy on the 10,000 test images after each "
        f"round. The anchor: at least {ANCHOR} (Flower's niid_bench reports 88.4% for FedAvg with LeNet-5, after 50 "
        "rounds of 10 local epochs).",
        "",
        f"Machine: {environment.describe()}.",
        "",
        "| model | parameters | local epochs | round (median s) | first round reaching the anchor | its time | "
        "best accuracy (round) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        reached = next((i + 1 for i, a in enumerate(r["accuracy"]) if a >= ANCHOR), None)
        best = int(np.argmax(r["accuracy"]))
        lines.append(f"| `{r['model']}` | {r['parameters']:,} | {r['epochs']} | {statistics.median(r['seconds']):.1f} | "
                     + (f"{reached} | {sum(r['seconds'][:reached]):.0f} s" if reached else f"not in {len(r['accuracy'])} | -")
                     + f" | {r['accuracy'][best]:.4f} ({best + 1}) |")
    lines += ["", "Test accuracy after each round:", "",
              "| round | " + " | ".join(f"`{r['model']}` e{r['epochs']}" for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for i in range(max(len(r["accuracy"]) for r in results)):
        lines.append(f"| {i + 1} | " + " | ".join(f"{r['accuracy'][i]:.4f}" if i < len(r["accuracy"]) else ""
                                                   for r in results) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
