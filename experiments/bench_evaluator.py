"""Benchmark: how long the central evaluator takes to score one model, and SalUn's attack side by side.

It scores two trained models of the experiment's architecture: a "reference" trained on the retained data
and an "original" trained on all data (plain centralised SGD, seeded, ``--train-epochs`` epochs each), so
the outputs look like a federation's models, not like random weights. It times the forward passes over
the evaluation sets, SalUn's MIA-efficacy (five SVMs), the joint attack and everything else, and checks
our SalUn attack (duplicate rows merged into weighted ones, two threads) against a plain scikit-learn fit
on every row, exactly as SalUn's ``SVC_fit_predict`` does it, on the same outputs. Writes
experiments/results/evaluator.md.

    python experiments/bench_evaluator.py [--experiment experiments/fashion-mnist.toml] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from flwr.app import ArrayRecord
from sklearn.svm import SVC

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from commands import MEASURED_NOTE  # noqa: E402

from fedunlearn.cli import experiment_config  # noqa: E402
from fedunlearn.config import seed_list  # noqa: E402
from fedunlearn.data.federation import Federation  # noqa: E402
from fedunlearn.evaluation import membership  # noqa: E402
from fedunlearn.evaluation.evaluator import Evaluator  # noqa: E402
from fedunlearn.learning.models import build_model  # noqa: E402
from fedunlearn.learning.training import TrainSettings, derive_seed, train  # noqa: E402


def trained(config: dict, federation: Federation, view: str, epochs: int, replicate: int = 1) -> ArrayRecord:
    """A model trained centrally on the union of the clients' ``view`` data (seeded; ``replicate`` > 1: another
    initialisation, as the per-example attack's reference federations)."""
    data = federation.data
    seed = derive_seed(config["seed"], "init") if replicate == 1 else derive_seed(config["seed"], "init", replicate)
    model = build_model(config["model"], data.input_shape, data.num_classes, seed=seed)
    index = federation.union_indices(view)
    settings = TrainSettings(epochs, config["batch-size"], config["learning-rate"], config["momentum"])
    train(model, data.x_train[index], data.y_train[index], settings, derive_seed(config["seed"], "bench", view))
    return ArrayRecord(model.state_dict())


def plain_salun(evaluator: Evaluator, outputs) -> dict[str, tuple[float, float]]:
    """SalUn's SVC_fit_predict on every row, one feature after the other: {feature: (efficacy, seconds)}."""
    n, retained = evaluator.salun_members, evaluator.salun_nonmembers
    sides = [membership.salun_features(outputs.probs["retain"][:n], evaluator.y["retain"][:n]),
             membership.salun_features(outputs.probs["test"][retained], evaluator.y["test"][retained]),
             membership.salun_features(outputs.probs["forget"], evaluator.y["forget"])]
    result = {}
    for feature in membership.SALUN_FEATURES:
        start = time.perf_counter()
        members, nonmembers, forget = (side[feature] for side in sides)
        attack = SVC(C=3, gamma="auto", kernel="rbf").fit(np.concatenate([members, nonmembers]),
                                                         np.r_[np.ones(len(members)), np.zeros(len(nonmembers))])
        result[feature] = (1 - float(attack.predict(forget).mean()), time.perf_counter() - start)
    return result


def run_share(path: Path, per_model: float, per_seed: float) -> list[str]:
    """The evaluator's share of a one-seed run: its models scored at ``per_model`` seconds each plus the per-seed
    set-up, against the run's own training phases (their wall seconds, measured when the run was computed)."""
    if not path.is_file():
        return [f"No one-seed run at `{path}`: the evaluator's share of a run is not estimated.", ""]
    report = json.loads(path.read_text(encoding="utf-8"))
    seed = str(report["seeds"][0])
    phases = report["per_seed"][seed]
    training = sum(entry["cost"]["seconds"] for entry in phases.values())
    training += (phases.get("retrain", {}).get("attack_references") or {}).get("cost", {}).get("seconds", 0.0)
    scoring = per_model * len(phases) + per_seed
    return [f"**The evaluator's share of a one-seed run**: `{path.relative_to(ROOT)}` trained its models and its "
            f"attack's reference federations in {training:.1f} s (the phases' wall seconds, as its report states "
            f"them); scoring its {len(phases)} models at this page's median ({per_model:.2f} s each) plus the per-seed "
            f"set-up ({per_seed:.2f} s) takes {scoring:.1f} s: **{100 * scoring / (training + scoring):.1f}%** of the "
            "two together (target: at most 10%). The run's own measured scoring time is "
            f"{sum(report.get('evaluation_seconds', {}).values()):.1f} s.", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "fashion-mnist.toml"))
    parser.add_argument("--run-config", default="")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-epochs", type=int, default=1)
    parser.add_argument("--run", default=str(ROOT / "experiments" / "results" / "fashion-mnist-run" / "report.json"),
                        help="a one-seed run's report.json: the evaluator's share of its wall time is estimated")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "evaluator.md"))
    args = parser.parse_args()
    config = experiment_config(args.experiment, args.run_config)
    config["seed"] = seed_list(config)[0]
    torch.set_num_threads(2)

    federation = Federation.from_config(config)
    start = time.perf_counter()
    evaluator = Evaluator(federation, config)
    setup = time.perf_counter() - start
    print("training the two models ...", flush=True)
    reference_arrays = trained(config, federation, "retain", args.train_epochs)
    original_arrays = trained(config, federation, "all", args.train_epochs)
    reference = evaluator.outputs(reference_arrays)
    references = []  # the per-example attack's: their outputs on the forgotten and test samples, once per seed
    attack_setup = []
    for replicate in range(2, config["rmia-references"] + 2):
        arrays = trained(config, federation, "retain", args.train_epochs, replicate)
        begin = time.perf_counter()
        references.append(evaluator.outputs(arrays, sets=("forget", "test")))
        attack_setup.append(time.perf_counter() - begin)

    timings: dict[str, list[float]] = {"forward passes": [], "SalUn's MIA-efficacy (5 SVMs)": [],
                                       "joint attack (mia_auc)": [], "per-example attack (RMIA)": [],
                                       "everything else": [], "total": []}
    real = {"salun": membership.salun_mia_efficacy, "joint": membership.population_mia,
            "rmia": Evaluator.per_example_attack}
    spent = {"salun": 0.0, "joint": 0.0, "rmia": 0.0}

    def timed(name):
        def call(*a, **k):
            begin = time.perf_counter()
            try:
                return real[name](*a, **k)
            finally:
                spent[name] += time.perf_counter() - begin
        return call

    import fedunlearn.evaluation.evaluator as evaluator_module
    evaluator_module.salun_mia_efficacy, evaluator_module.population_mia = timed("salun"), timed("joint")
    Evaluator.per_example_attack = timed("rmia")
    for i in range(args.repeats):
        spent.update(salun=0.0, joint=0.0, rmia=0.0)
        begin = time.perf_counter()
        outputs = evaluator.outputs(original_arrays)
        forward = time.perf_counter() - begin
        metrics = evaluator.evaluate(outputs, reference, references)
        evaluator.representation_map(outputs)
        total = time.perf_counter() - begin
        for key, value in (("forward passes", forward), ("SalUn's MIA-efficacy (5 SVMs)", spent["salun"]),
                           ("joint attack (mia_auc)", spent["joint"]), ("per-example attack (RMIA)", spent["rmia"]),
                           ("everything else", total - forward - sum(spent.values())), ("total", total)):
            timings[key].append(value)
        print(f"repeat {i + 1}: {total:.1f} s", flush=True)
    evaluator_module.salun_mia_efficacy, evaluator_module.population_mia = real["salun"], real["joint"]
    Evaluator.per_example_attack = real["rmia"]
    share = run_share(Path(args.run), statistics.median(timings["total"]), setup + sum(attack_setup))

    print("SalUn's attack, plain fits on every row ...", flush=True)
    plain = plain_salun(evaluator, outputs)
    ours = metrics["mia_efficacy_by_feature"]
    sizes = {name: len(y) for name, y in evaluator.y.items()}
    n = evaluator.salun_members
    command = (f"python experiments/bench_evaluator.py --experiment {Path(args.experiment).resolve().relative_to(ROOT)}"
               f" --repeats {args.repeats} --train-epochs {args.train_epochs}"
               + (f" --run-config \"{args.run_config}\"" if args.run_config else ""))
    lines = [
        "# Evaluation time of one model, and SalUn's attack side by side",
        "",
        MEASURED_NOTE,
        "",
        "Written by `experiments/bench_evaluator.py`. It scores a model trained centrally on all data "
        f"({args.train_epochs} epoch(s) of the experiment's SGD settings) against one trained on the retained "
        "data, with every metric: accuracies, SalUn's MIA-efficacy (five SVMs), the joint attack (`mia_auc`, "
        "`mia_joint_members`), the per-example attack (RMIA, `rmia_auc` and its TPRs, with "
        f"{config['rmia-references']} reference model(s) trained like the reference from other initialisations), "
        "`neighbour_mia`, `backdoor_asr`, KL, its median, Jensen-Shannon and CKA to the reference, and the "
        "representation map. The reference's outputs, and its reference models' on the forgotten and test samples, "
        "are computed once per seed (the set-up row) and shared by every model of the seed.",
        "",
        *share,
        f"- Command: `{command}`",
        f"- Config: dataset {config['dataset']}, model {config['model']}, {config['num-clients']} clients, "
        f"forget-class {config['forget-class']}, backdoor-client {config['backdoor-client']}, seed {config['seed']}",
        f"- Evaluation sets: {', '.join(f'{k} {v}' for k, v in sizes.items())} samples; SalUn's attack: {n} members "
        f"(the first retained training samples) and {len(evaluator.salun_nonmembers)} non-members (the test set "
        f"without the forgotten class) per SVM, {sizes['forget']} targets",
        f"- Model scored: forget_acc {metrics['forget_acc']:.3f}, retain_acc {metrics['retain_acc']:.3f}, test_acc "
        f"{metrics['test_acc']:.3f}, mia_auc {metrics['mia_auc']:.3f}",
        f"- Machine: {platform.platform()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}; {args.repeats} repeats",
        "",
        "| part of scoring one model (s) | min | median | max |",
        "|---|---|---|---|",
        *(f"| {key} | {min(v):.2f} | {statistics.median(v):.2f} | {max(v):.2f} |" for key, v in timings.items()),
        f"| evaluator set-up, once per seed | {setup:.2f} | | |",
        f"| the attack's reference models' outputs, once per seed | {sum(attack_setup):.2f} | | |",
        "",
        "## SalUn's attack: ours against a plain fit on every row",
        "",
        "Ours merges identical rows into one weighted row and runs the five SVMs on two threads; the plain "
        "side fits `SVC(C=3, gamma=\"auto\", kernel=\"rbf\")` on every row, one feature after the other, as "
        "SalUn's `SVC_fit_predict` does. Same outputs, same samples.",
        "",
        "| feature | ours | plain | difference | plain fit + predict (s) |",
        "|---|---|---|---|---|",
        *(f"| {f} | {ours[f]:.4f} | {plain[f][0]:.4f} | {ours[f] - plain[f][0]:+.4f} | {plain[f][1]:.1f} |"
          for f in membership.SALUN_FEATURES),
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
