"""Benchmark: how long the central evaluator takes to score one model (every metric), on an experiment's data.

It trains nothing: it scores FedAvg-sized models with the experiment's architecture (a reference and a
second model with other weights), so the time is the evaluator's own: forward passes on the forgotten,
retained, test and triggered sets, the membership attacks, KL, CKA and the representation map.
Writes experiments/results/evaluator.md.

    python experiments/bench_evaluator.py [--experiment experiments/seeds.toml] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from flwr.app import ArrayRecord

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedunlearn.cli import experiment_config  # noqa: E402
from fedunlearn.config import seed_list  # noqa: E402
from fedunlearn.evaluator import Evaluator  # noqa: E402
from fedunlearn.federation import Federation  # noqa: E402
from fedunlearn.models import build_model  # noqa: E402
from strategies.flow import initial_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "seeds.toml"))
    parser.add_argument("--run-config", default="")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "evaluator.md"))
    args = parser.parse_args()
    config = experiment_config(args.experiment, args.run_config)
    config["seed"] = seed_list(config)[0]

    federation = Federation.from_config(config)
    start = time.perf_counter()
    evaluator = Evaluator(federation, config)
    setup = time.perf_counter() - start
    data = federation.data
    reference_arrays = initial_model(config, federation)
    other = ArrayRecord(build_model(config["model"], data.input_shape, data.num_classes, seed=99).state_dict())
    reference = evaluator.outputs(reference_arrays)

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        outputs = evaluator.outputs(other)
        evaluator.evaluate(outputs, reference)
        evaluator.representation_map(outputs)
        times.append(time.perf_counter() - start)
    sizes = {name: len(y) for name, y in evaluator.y.items()}
    lines = [
        "# Evaluation time of one model",
        "",
        "Written by `experiments/bench_evaluator.py`: the time to score one model with every metric "
        "(accuracies, `mia`, `mia_auc`, `mia_nn`, `backdoor_asr`, KL and CKA to the reference, representation "
        "map), given the reference's outputs, which are computed once per seed.",
        "",
        f"- Command: `python experiments/bench_evaluator.py --experiment {Path(args.experiment).resolve().relative_to(ROOT)}"
        f" --repeats {args.repeats}" + (f" --run-config \"{args.run_config}\"" if args.run_config else "") + "`",
        f"- Config: dataset {config['dataset']}, model {config['model']}, {config['num-clients']} clients, "
        f"forget-class {config['forget-class']}, backdoor-client {config['backdoor-client']}, seed {config['seed']}",
        f"- Evaluation sets: {', '.join(f'{k} {v}' for k, v in sizes.items())} samples",
        f"- Machine: {platform.platform()}, torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"Python {platform.python_version()}",
        "",
        "| measure | min | median | max |",
        "|---|---|---|---|",
        f"| evaluate one model (s) | {min(times):.3f} | {statistics.median(times):.3f} | {max(times):.3f} |",
        f"| evaluator set-up, once per seed (s) | {setup:.3f} | | |",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
