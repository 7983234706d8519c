"""FUCRT experiments: the sweep that chose its defaults, the main comparison with its ablations, and
the paper's premise, written to experiments/results/fucrt.md (run directories beside it).

Every FUCRT variant of one partition runs inside one experiment, so the variants share the original
model and the reference of each seed: only the unlearning differs between rows.

    python experiments/fucrt.py sweep      # defaults sweep on the default experiment (3 seeds)
    python experiments/fucrt.py main       # default (dirichlet 0.5) and IID: FUCRT, ablations, finetune
    python experiments/fucrt.py report     # rewrite experiments/results/fucrt.md from the run directories
"""

from __future__ import annotations

import argparse
from collections import Counter

from commands import ROOT, execute, fedunlearn_run, fmt, load_run, shown

from fedunlearn.evaluation.evaluator import AVG_GAP_TEXT

RESULTS = ROOT / "experiments" / "results"
RUNS = RESULTS / "fucrt"
SEEDS = "0,1,2"
# FUCRT uses one round: 10 client trainings against the reference's 150 (speedup 15). Fine-tuning gets the
# same budget.
BUDGET = "unlearn-rounds=1"
SWEEP = [
    "fucrt[fucrt-lambda-local=0.1;fucrt-lambda-global=0.1;fucrt-temperature=0.5]",
    "fucrt[fucrt-lambda-local=0.5;fucrt-lambda-global=0.5;fucrt-temperature=0.5]",
    "fucrt[fucrt-lambda-local=1.0;fucrt-lambda-global=1.0;fucrt-temperature=0.5]",
    "fucrt[fucrt-lambda-local=0.1;fucrt-lambda-global=0.1;fucrt-temperature=0.1]",
    "fucrt[fucrt-lambda-local=0.5;fucrt-lambda-global=0.5;fucrt-temperature=0.1]",
    "fucrt[fucrt-lambda-local=0.1;fucrt-lambda-global=0.1;learning-rate=0.02]",
    "fucrt[fucrt-lambda-local=0.1;fucrt-lambda-global=0.1;local-epochs=3]",
    "fucrt[fucrt-lambda-local=0.1;fucrt-lambda-global=0.1;fucrt-select-threshold=0.1]",
    "fucrt[fucrt-lambda-local=0.1;fucrt-lambda-global=0.1;fucrt-select-threshold=0.4]",
]
ABLATION = [
    "fucrt",
    "fucrt[fucrt-lambda-local=0]",
    "fucrt[fucrt-lambda-global=0]",
    "fucrt[fucrt-lambda-local=0;fucrt-lambda-global=0]",
    "fucrt[fucrt-selection='random']",
    "fucrt[fucrt-selection='nearest-centroid']",
    "finetune",
]
RUN_SETS = {
    "sweep": {"sweep": ("dirichlet", SWEEP + ["finetune"])},
    "main": {"dirichlet": ("dirichlet", ABLATION), "iid": ("iid", ABLATION)},
}


def command(name: str, partitioner: str, methods: list[str]) -> list[str]:
    overrides = f"seeds='{SEEDS}' partitioner='{partitioner}' {BUDGET} unlearn-methods='{','.join(methods)}'"
    return fedunlearn_run("experiments/default.toml", overrides, f"experiments/results/fucrt/{name}")


def run(part: str) -> None:
    for name, (partitioner, methods) in RUN_SETS[part].items():
        execute(command(name, partitioner, methods))


COLUMNS = [("forget_acc", "metrics.forget_acc"), ("test_forget_acc", "metrics.test_forget_acc"),
           ("test_retain_acc", "metrics.test_retain_acc"), ("gap test_retain", "gap.test_retain_acc"),
           ("neighbour_mia", "metrics.neighbour_mia"), ("avg_gap", "avg_gap"), ("speedup", "speedup.client_rounds")]


def landed(report: dict, name: str) -> str:
    """Mean over seeds of the share of forgotten-class test samples the model predicts as one of that
    seed's transformation classes (of the model itself, else of `fucrt`)."""
    shares = []
    for seed, models in report["per_seed"].items():
        # the original's and the reference's details say where they came from (the cache), not a set
        details = next((d for d in (models[name].get("details"), models.get("fucrt", {}).get("details"))
                        if d and "transformation_classes" in d), None)
        if not details or models[name]["metrics"].get("forget_predicted_as") is None:
            return "-"
        shares.append(sum(models[name]["metrics"]["forget_predicted_as"][c] for c in details["transformation_classes"]))
    return f"{sum(shares) / len(shares):.2f}"


def table(report: dict) -> list[str]:
    lines = ["| model | " + " | ".join(c for c, _ in COLUMNS) + " | forgotten -> T | transformation classes T |",
             "|---|" + "---|" * (len(COLUMNS) + 2)]
    for name, entry in report["models"].items():
        sets = Counter(tuple(d["transformation_classes"]) for d in (entry.get("details") or {}).values()
                       if d and "transformation_classes" in d)
        chosen = ", ".join(f"{list(s)} x{n}" for s, n in sets.most_common()) or "-"
        cells = [fmt(entry["stats"].get(key)) for _, key in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {landed(report, name)} | {chosen} |")
    return lines


def criteria(report: dict, method: str = "fucrt") -> list[str]:
    """The issue's bars, checked on the means over seeds (and every seed for the erasure bars)."""
    models, lines = report["models"], []
    fucrt, ref, fine = models[method], models["retrain"], models["finetune"]
    per_seed = report["per_seed"]
    worst_forget = max(per_seed[s][method]["metrics"]["forget_acc"] for s in per_seed)
    worst_test_forget = max(per_seed[s][method]["metrics"]["test_forget_acc"] for s in per_seed)
    checks = [
        ("forget_acc <= 0.01 (every seed)", worst_forget <= 0.01, f"worst {worst_forget:.3f}"),
        ("test_forget_acc <= 0.01 (every seed)", worst_test_forget <= 0.01, f"worst {worst_test_forget:.3f}"),
        ("test_retain_acc >= reference - 0.01 (mean)",
         fucrt["metrics"]["test_retain_acc"] >= ref["metrics"]["test_retain_acc"] - 0.01,
         f"{fucrt['metrics']['test_retain_acc']:.3f} vs {ref['metrics']['test_retain_acc']:.3f}"),
        ("avg_gap below finetune's (mean)", fucrt["avg_gap"] < fine["avg_gap"],
         f"{fucrt['avg_gap']:.3f} vs {fine['avg_gap']:.3f}"),
        ("client-round speedup >= 10", fucrt["speedup"]["client_rounds"] >= 10,
         f"{fucrt['speedup']['client_rounds']:.1f}x"),
    ]
    for label, ok, value in checks:
        lines.append(f"- {'met' if ok else '**not met**'}: {label}: {value}")
    return lines


def premise(report: dict, method: str = "fucrt") -> tuple[int, int, list[str]]:
    """Per seed: does the transformation set contain the reference's most frequent prediction for
    forgotten-class test samples?"""
    hits, lines = 0, []
    for seed, models in report["per_seed"].items():
        shares = models["retrain"]["metrics"]["forget_predicted_as"]
        top = max(range(len(shares)), key=lambda c: shares[c])
        chosen = models[method]["details"]["transformation_classes"]
        hits += top in chosen
        lines.append(f"- seed {seed}: the reference predicts forgotten-class test samples most often as {top} "
                     f"({shares[top]:.0%}); transformation set {chosen}: {'contains it' if top in chosen else 'does not'}")
    return hits, len(report["per_seed"]), lines


def write_report() -> None:
    lines = ["# FUCRT on the default class experiment", "",
             "Regenerate everything on this page: `python experiments/fucrt.py all` (about 8 minutes on 2 cores); "
             "each section's exact run command is below it.", "",
             "Written by `experiments/fucrt.py report` from the run directories under `experiments/results/fucrt/`. "
             "Data set digits, small CNN, 10 clients, forget class 3, seeds 0, 1, 2; means ± half-width of the 95% "
             "t-interval over seeds. FUCRT and fine-tuning get one unlearning round (10 client trainings); the "
             "reference costs 150. Definitions of the metrics: docs/evaluator.md; of FUCRT's choices: "
             "docs/methods/fucrt.md.", "",
             "`forgotten -> T`: share of the forgotten class's test samples that the model predicts as one of the "
             "transformation classes T (FUCRT's own set; for the other models, the set `fucrt` chose in that seed). "
             f"`avg_gap` = {AVG_GAP_TEXT} (docs/evaluator.md).", ""]
    for name, title in (("dirichlet", "Default experiment (Dirichlet 0.5): FUCRT, ablations, fine-tuning"),
                        ("iid", "IID variant: FUCRT, ablations, fine-tuning"),
                        ("sweep", "Sweep of FUCRT's open parameters (Dirichlet 0.5)")):
        path = RUNS / name / "report.json"
        if not path.is_file():
            continue
        report = load_run(path)
        partitioner = report["experiment"]["partitioner"]
        args = command(name, partitioner, [label for label in report["models"] if label not in ("original", "retrain")])
        lines += [f"## {title}", "", f"Command: `{shown(args)}`", "",
                  *table(report), ""]
        if name != "sweep":
            hits, total, premise_lines = premise(report)
            lines += ["Issue bars for `fucrt`:", "", *criteria(report), "",
                      f"Premise (the transformation set holds the reference's favourite class for the forgotten "
                      f"class): {hits} of {total} seeds.", "", *premise_lines, "",
                      f"Plots: [representation map](fucrt/{name}/plots/representation_map.png), "
                      f"[gaps](fucrt/{name}/plots/gap_heatmap.png), [report](fucrt/{name}/report.md).", ""]
    (RESULTS / "fucrt.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["sweep", "main", "report", "all"])
    part = parser.parse_args().part
    for name in (["sweep", "main"] if part == "all" else [part] if part != "report" else []):
        run(name)
    write_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
