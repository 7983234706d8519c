"""The default experiment with simulated faults (fault-rate 0.2) against the same experiment without,
over seeds 0, 1, 2, with nothing else set: the deadlines are the defaults a user gets. Writes
experiments/results/faults.md (runs under experiments/results/faults/).

Each sampled client fails with probability 0.2 in every round of every phase: half of the failures
raise, half hang (no answer: the server waits for the round's deadline). A round asks its failed clients
again, up to `round-retries` times (the default), before going on without them. Neither run uses the model
cache: both train their own original and reference.

Targets (the reliability issue and its ruling): the faulty run ends within 3x the fault-free wall time;
every accuracy, `mia_auc`, KL and CKA within 0.03 of the fault-free run; the thresholded attack shares
(`mia_efficacy`, `mia_joint_members`) within 0.03 only where the attack has signal (`mia_auc` >= 0.6),
elsewhere shown beside their fault-free spread over seeds.

    python experiments/faults.py run      # both experiments, timed
    python experiments/faults.py report   # rewrite the results page from the run directories
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from commands import ROOT, execute, fedunlearn_run, fmt, load_run, shown

sys.path.insert(0, str(ROOT))
from fedunlearn.evaluation.evaluator import MIA_SIGNAL_AUC  # noqa: E402

RESULTS = ROOT / "experiments" / "results"
SEEDS = "0,1,2"
COMMON = f"seeds='{SEEDS}' cache-dir=''"
RUNS = {"clean": f"{COMMON} fault-rate=0.0", "faulty": f"{COMMON} fault-rate=0.2"}
HELD = ("forget_acc", "retain_acc", "test_acc", "test_forget_acc", "test_retain_acc", "mia_auc", "neighbour_mia",
        "kl_to_reference.kl_forget", "kl_to_reference.kl_test", "cka_to_reference.cka_forget",
        "cka_to_reference.cka_test")
SHARES = ("mia_efficacy", "mia_joint_members")
TOLERANCE = 0.03


def command(name: str) -> list[str]:
    return fedunlearn_run("experiments/default.toml", RUNS[name], f"experiments/results/faults/{name}")


def value(entry: dict, key: str) -> float | None:
    node = entry["metrics"]
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def write_page() -> None:
    reports = {n: load_run(RESULTS / "faults" / n / "report.json") for n in RUNS}
    walls = json.loads((RESULTS / "faults" / "wall.json").read_text()) if (RESULTS / "faults" / "wall.json").exists() \
        else {}
    clean, faulty = reports["clean"]["models"], reports["faulty"]["models"]
    keys = reports["faulty"]["experiment"]
    worst = {m: max((abs(value(faulty[m], k) - value(clean[m], k)), k) for k in HELD
                    if value(faulty[m], k) is not None and value(clean[m], k) is not None) for m in clean}
    share_rows = []
    for m in clean:
        signal = clean[m]["metrics"]["mia_auc"] >= MIA_SIGNAL_AUC
        for k in SHARES:
            diff = faulty[m]["metrics"][k] - clean[m]["metrics"][k]
            spread = (clean[m]["stats"].get(f"metrics.{k}") or {}).get("std")
            verdict = ("held" if abs(diff) <= TOLERANCE else "not held") if signal else "not judged: no signal"
            share_rows.append(f"| {m} | {k} | {clean[m]['metrics']['mia_auc']:.3f} | {diff:+.3f} | "
                              f"{'-' if spread is None else f'{spread:.3f}'} | {verdict} |")
    ratio = walls["faulty"] / walls["clean"] if {"clean", "faulty"} <= set(walls) else None
    lines = [
        "# Faults: the default experiment with fault-rate 0.2 against fault-free",
        "",
        "Written by `python experiments/faults.py report` from the runs under `experiments/results/faults/` and their "
        "wall times (`faults/wall.json`); `python experiments/faults.py run` runs them again.",
        "",
        "Each sampled client fails with probability 0.2 in every round of every phase: half raise, half hang (no "
        "answer; the server waits for the round's deadline, which follows the answer times seen so far: "
        f"`round-deadline-factor` {keys['round-deadline-factor']:g}, `round-deadline-floor` "
        f"{keys['round-deadline-floor']:g} s, `round-timeout` {keys['round-timeout']:g} s as the hard cap, all "
        f"defaults). A round asks its failed clients again, up to `round-retries` = {keys['round-retries']} times "
        "(the default; a retry gives the answer the first attempt would have given), then aggregates the answers "
        f"that arrived. Means over seeds {SEEDS} (± half-width of the 95% interval); in brackets: faulty minus clean. "
        f"{reports['faulty'].get('environment', '')}",
        "",
        ("Wall time, both runs of 3 seeds: fault-free "
         f"{walls['clean']:.0f} s, faulty {walls['faulty']:.0f} s: **{ratio:.2f}x** (target at most 3x)."
         if ratio else "Wall time: not measured (`python experiments/faults.py run` measures it)."),
        "",
        f"Largest difference of a mean over the metrics held to {TOLERANCE} (accuracies, `mia_auc`, `neighbour_mia`, KL and "
        "CKA to the reference): " + ", ".join(f"**{m}** {w:.3f} ({k if w else 'every one equal'})"
                                               for m, (w, k) in worst.items()) + ".",
        "",
        "| model | " + " | ".join(k.split(".")[-1] for k in HELD[:7])
        + " | failures (faulty) | retries (faulty) | client trainings (faulty) |",
        "|---|" + "---|" * (7 + 3),
    ]
    for name in clean:
        cells = [f"{fmt(faulty[name]['stats'].get(f'metrics.{k}'))} ({value(faulty[name], k) - value(clean[name], k):+.3f})"
                 if value(faulty[name], k) is not None else "-" for k in HELD[:7]]
        cost = faulty[name]["cost"]
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {cost['failures']:.1f} | {cost['retries']:.1f} | {cost['client_rounds']:.0f} |")
    lines += [
        "",
        "## The thresholded attack shares",
        "",
        f"Held to {TOLERANCE} only where the attack has signal (fault-free `mia_auc` >= {MIA_SIGNAL_AUC}); elsewhere "
        "their fault-free standard deviation over seeds shows how much they move without any fault.",
        "",
        "| model | share | mia_auc (clean) | faulty - clean | fault-free std over seeds | within 0.03 |",
        "|---|---|---|---|---|---|",
        *share_rows,
        "",
        "Commands (from the repository root):", "", "```sh", *(shown(command(n)) for n in RUNS), "```", "",
        "Full reports: [clean](faults/clean/report.md), [faulty](faults/faulty/report.md).", "",
    ]
    (RESULTS / "faults.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS / 'faults.md'} (largest differences {worst}; wall ratio {ratio})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["run", "report"])
    if parser.parse_args().what == "run":
        walls = {}
        for name in RUNS:
            start = time.perf_counter()
            execute(command(name))
            walls[name] = time.perf_counter() - start
        (RESULTS / "faults" / "wall.json").write_text(json.dumps(walls) + "\n", encoding="utf-8")
    write_page()


if __name__ == "__main__":
    main()
