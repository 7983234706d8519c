"""The default experiment with simulated faults (fault-rate 0.2) against the same experiment without,
over seeds 0, 1, 2. Writes experiments/results/faults.md (runs under experiments/results/faults/).

Each sampled client fails with probability 0.2 in every round of every phase: half of the failures
raise, half hang until the server's round-timeout has passed. `client-cpus=0.2` gives every client its
own Ray worker, so that a hanging client does not hold up the others. Neither run uses the reference
cache: both train their own reference.

    python experiments/faults.py run      # both experiments (about 15 minutes on 2 cores)
    python experiments/faults.py report   # rewrite the results page from the run directories
"""

from __future__ import annotations

import argparse
import json

from tables import ROOT, execute, fedunlearn_run, fmt, shown

RESULTS = ROOT / "experiments" / "results"
SEEDS = "0,1,2"
COMMON = f"seeds='{SEEDS}' cache-dir='' round-timeout=10 client-cpus=0.2"
RUNS = {"clean": f"{COMMON} fault-rate=0.0", "faulty": f"{COMMON} fault-rate=0.2"}
METRICS = ("forget_acc", "retain_acc", "test_acc", "test_forget_acc", "test_retain_acc", "mia")


def command(name: str) -> list[str]:
    return fedunlearn_run("experiments/default.toml", RUNS[name], f"experiments/results/faults/{name}")


def write_page() -> None:
    reports = {n: json.loads((RESULTS / "faults" / n / "report.json").read_text()) for n in RUNS}
    clean, faulty = reports["clean"]["models"], reports["faulty"]["models"]
    accuracies = [k for k in METRICS if k != "mia"]
    worst = {m: max(abs(faulty[m]["metrics"][k] - clean[m]["metrics"][k]) for k in accuracies) for m in clean}
    per_seed = {m: max(abs(reports["faulty"]["per_seed"][s][m]["metrics"]["forget_acc"]
                           - reports["clean"]["per_seed"][s][m]["metrics"]["forget_acc"])
                       for s in reports["clean"]["per_seed"]) for m in clean}
    lines = [
        "# Faults: the default experiment with fault-rate 0.2 against fault-free",
        "",
        "Each sampled client fails with probability 0.2 in every round of every phase (half raise, half hang past "
        "`round-timeout`); the strategies aggregate the answers that arrived. Means over seeds "
        f"{SEEDS} (± half-width of the 95% interval); in brackets: faulty minus clean.",
        "",
        "Largest difference of a mean accuracy metric (" + ", ".join(accuracies) + "), target within 0.03: "
        + ", ".join(f"**{m}** {w:.3f}" for m, w in worst.items()) + ".",
        "",
        "Largest difference of `forget_acc` in a single seed: "
        + ", ".join(f"{m} {w:.3f}" for m, w in per_seed.items()) + ".",
        "",
        "| model | " + " | ".join(METRICS) + " | failures (faulty) | client trainings |",
        "|---|" + "---|" * (len(METRICS) + 2),
    ]
    for name in clean:
        cells = [f"{fmt(faulty[name]['stats'].get(f'metrics.{k}'))} ({faulty[name]['metrics'][k] - clean[name]['metrics'][k]:+.3f})"
                 for k in METRICS]
        cost = faulty[name]["cost"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {cost['failures']:.1f} | {cost['client_rounds']:.0f} |")
    lines += ["", "## Reading", "",
              "Trained over 15 rounds, the original model and the reference lose little to faults: each round still "
              "averages most clients, and a client missing one round is there in the next. A method that gets one "
              "round (`unlearn-rounds = 1` here) has no next round: a client that fails in it keeps its forgotten "
              "samples out of that method's only update. `mia` is left out of the target: on digits it is close to "
              "arbitrary for every model (docs/evaluator.md), and it moves by more between seeds than between runs.",
              "", "Commands (from the repository root):", "", "```sh", *(shown(command(n)) for n in RUNS), "```", "",
              "Full reports: [clean](faults/clean/report.md), [faulty](faults/faulty/report.md). The faulty run was "
              "interrupted once (its Ray was stopped by another process) and finished with "
              "`fedunlearn run --resume experiments/results/faults/faulty`.", ""]
    (RESULTS / "faults.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS / 'faults.md'} (largest differences {worst})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["run", "report"])
    if parser.parse_args().what == "run":
        for name in RUNS:
            execute(command(name))
    write_page()


if __name__ == "__main__":
    main()
