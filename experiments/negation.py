"""NoT, its weight-perturbation ablation and the standard baselines, side by side, on client deletion
(a backdoored target; IID and Dirichlet 0.1), sample deletion and class deletion, over seeds 0, 1, 2.
Writes experiments/results/negation.md (run directories under experiments/results/negation/).

Every method gets the same budget (`unlearn-rounds`), and every method of one scenario runs inside one
experiment, so they share the original model and the reference of each seed.

    python experiments/negation.py run       # the four scenarios (about 10 minutes on 2 cores)
    python experiments/negation.py report    # rewrite the results page from the run directories
"""

from __future__ import annotations

import argparse

from commands import ROOT, execute, fedunlearn_run, fmt, load_run, shown

from fedunlearn.evaluation.evaluator import AVG_GAP_TEXT

RESULTS = ROOT / "experiments" / "results"
RUNS = RESULTS / "negation"
SEEDS = "0,1,2"
ROUNDS = 5
PERTURBATIONS = ["not", "not-all", "not-last", "noise", "reinit"]
BACKDOOR = "backdoor-client=1 backdoor-fraction=0.5 backdoor-target=0"
SCENARIOS = {
    "client-iid": ("Client deletion, backdoored target, IID",
                   f"partitioner='iid' forget-client=1 forget-class=-1 {BACKDOOR}",
                   ["finetune", *PERTURBATIONS, "gradient-ascent", "federaser"]),
    "client-dirichlet": ("Client deletion, backdoored target, Dirichlet 0.1",
                         f"dirichlet-alpha=0.1 forget-client=1 forget-class=-1 {BACKDOOR}",
                         ["finetune", *PERTURBATIONS, "gradient-ascent", "federaser"]),
    "sample": ("Sample deletion: 30% of client 1's samples, Dirichlet 0.5",
               "forget-samples=0.3 forget-samples-client=1 forget-class=-1",
               ["finetune", *PERTURBATIONS, "gradient-ascent"]),
    "class": ("Class deletion: class 3, Dirichlet 0.5", "forget-class=3",
              ["finetune", *PERTURBATIONS, "head-tilt"]),
}
COLUMNS = [("forget_acc", "metrics.forget_acc"), ("retain_acc", "metrics.retain_acc"), ("test_acc", "metrics.test_acc"),
           ("mia_efficacy", "metrics.mia_efficacy"), ("backdoor_asr", "metrics.backdoor_asr"), ("avg_gap", "avg_gap"),
           ("client_rounds", "cost.client_rounds"), ("MB", None), ("seconds", "cost.seconds"),
           ("speedup", "speedup.client_rounds")]


def command(name: str) -> list[str]:
    _, overrides, methods = SCENARIOS[name]
    return fedunlearn_run("experiments/default.toml",
                          f"seeds='{SEEDS}' unlearn-rounds={ROUNDS} {overrides} unlearn-methods='{','.join(methods)}'",
                          f"experiments/results/negation/{name}")


def table(report: dict) -> list[str]:
    keys = [(c, k) for c, k in COLUMNS if k is None or any(e["stats"].get(k) for e in report["models"].values())]
    lines = ["| model | " + " | ".join(c for c, _ in keys) + " |", "|---|" + "---|" * len(keys)]
    for name, entry in report["models"].items():
        cost = entry["cost"]
        cells = [f"{(cost['bytes_down'] + cost['bytes_up']) / 1e6:.0f}" if k is None else fmt(entry["stats"].get(k))
                 for _, k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def claims(report: dict) -> list[str]:
    """NoT's claims, checked on this scenario's means (intervals in the table)."""
    models = report["models"]
    gap = {name: models[name]["avg_gap"] for name in PERTURBATIONS + ["finetune"]}
    best = min(PERTURBATIONS, key=gap.get)
    lines = [
        f"- NoT's Avg Gap below fine-tuning's at the same rounds: "
        f"{'holds' if gap['not'] < gap['finetune'] else '**does not hold**'} ({gap['not']:.3f} vs {gap['finetune']:.3f}).",
        f"- Negating the first layer beats the other perturbations: "
        f"{'holds' if best == 'not' else f'**does not hold** (best: {best})'} "
        f"({', '.join(f'{n} {gap[n]:.3f}' for n in PERTURBATIONS)}).",
    ]
    rivals = sorted({"finetune", best} - {"not"})

    def gap(name: str, key: str) -> str:
        return f"{models[name]['gap'][key]:+.3f}"

    lines.append(
        "- Why, in numbers: gaps to the reference on retain_acc / forget_acc: not " + gap("not", "retain_acc") + " / "
        + gap("not", "forget_acc") + "; " + "; ".join(f"{n} {gap(n, 'retain_acc')} / {gap(n, 'forget_acc')}" for n in rivals)
        + f". The reference's forget_acc differs from the original's by "
        f"{models['retrain']['metrics']['forget_acc'] - models['original']['metrics']['forget_acc']:+.3f}: how much "
        f"there is to unlearn. A method that damages utility and has not recovered it in {ROUNDS} rounds pays for it "
        f"in avg_gap even where it forgets well.")
    asr = {n: models[n]["metrics"].get("backdoor_asr") for n in ("retrain", "not")}
    if asr["retrain"] is not None:
        diff = abs(asr["not"] - asr["retrain"])
        lines.append(f"- Backdoor ASR of NoT within 0.05 of the reference's: {'yes' if diff <= 0.05 else '**no**'} "
                     f"({asr['not']:.3f} vs {asr['retrain']:.3f}).")
    return lines


def ablation(reports: dict[str, dict]) -> list[str]:
    """NoT's ablation across scenarios: avg_gap (and backdoor ASR where there is one) of each perturbation."""
    names = list(reports)
    lines = ["| perturbation | " + " | ".join(SCENARIOS[n][0] for n in names) + " |", "|---|" + "---|" * len(names)]
    for method in ["retrain", *PERTURBATIONS, "finetune"]:
        cells = []
        for n in names:
            entry = reports[n]["models"][method]
            cell = fmt(entry["stats"].get("avg_gap"))
            if entry["metrics"].get("backdoor_asr") is not None:
                cell += f" (ASR {entry['metrics']['backdoor_asr']:.3f})"
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def write_report() -> None:
    lines = ["# NoT, weight perturbations and baselines", "",
             "Written by `experiments/negation.py report` from the runs under `experiments/results/negation/`; "
             "regenerate everything with `python experiments/negation.py run`. Data set digits, small CNN, 10 "
             f"clients, seeds {SEEDS}: means ± half-width of the 95% t-interval. Every method gets {ROUNDS} "
             f"unlearning rounds. `avg_gap` (NoT's Avg Gap) = {AVG_GAP_TEXT} (docs/evaluator.md). MB = model bytes "
             "sent and received.", ""]
    reports = {name: load_run(RUNS / name / "report.json")
               for name in SCENARIOS if (RUNS / name / "report.json").is_file()}
    if reports:
        lines += ["## NoT's ablation: avg_gap per scenario (lower is closer to retraining)", "",
                  "`not` negates the first layer; `not-all` every layer; `not-last` the last; `noise` replaces the "
                  "first layer by Gaussian noise of the same norm; `reinit` re-initialises it. Same 5 rounds of "
                  "fine-tuning after each.", "", *ablation(reports), ""]
    for name, report in reports.items():
        title = SCENARIOS[name][0]
        lines += [f"## {title}", "", f"Command: `{shown(command(name))}`", "", *table(report), "",
                  "NoT's claims here:", "", *claims(report), "",
                  f"Verdicts and plots: [report](negation/{name}/report.md).", ""]
    (RESULTS / "negation.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["run", "report"])
    if parser.parse_args().part == "run":
        for name in SCENARIOS:
            execute(command(name))
    write_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
