"""How the leakage regime was chosen: Fashion-MNIST federations trained on fewer samples, for more local epochs, or with a
wider model, against how much their original model leaks membership and how well it generalises.

Every setting is one `fedunlearn run` of the client-deletion request (client 1's samples, about a tenth of the data,
Dirichlet 0.5) on tuning seed 100, which no page reports. Leakage is the original model's: the per-example attack's AUC on its forgotten
(member) samples against held-out ones (`rmia_auc`, 2 reference federations), and the population attack's held-out
AUC (`mia_auc`). The rule that picks the regime, written before the runs: among the settings where both AUCs are at
least 0.6, the one whose original model has the highest test accuracy (a useful model that leaks); its keys are those
of experiments/bench/fashion-mnist-leakage.toml. Writes experiments/results/leakage.md (runs under
experiments/results/leakage/).

    python experiments/leakage.py run       # the settings (about 15 minutes on 2 cores)
    python experiments/leakage.py report    # rewrite the page from the run directories
"""

from __future__ import annotations

import argparse

from commands import ROOT, execute, fedunlearn_run, load_run, shown

from fedunlearn.evaluation.evaluator import MIA_SIGNAL_AUC

RESULTS = ROOT / "experiments" / "results"
RUNS = RESULTS / "leakage"
SEED = 100
REQUEST = ("partitioner='dirichlet' forget-class=-1 forget-client=1 "
           "unlearn-methods='finetune' unlearn-rounds=1 rmia-references=2 mia-samples=2000")
# name: (training samples, 0 = all 60,000; local epochs; model; FedAvg rounds)
SETTINGS = {
    "all-e1": (0, 1, "cnn2-8", 10),
    "6000-e1": (6000, 1, "cnn2-8", 10),
    "6000-e5": (6000, 5, "cnn2-8", 10),
    "2000-e5": (2000, 5, "cnn2-8", 10),
    "2000-e10": (2000, 10, "cnn2-8", 10),
    "2000-e10-cnn2": (2000, 10, "cnn2", 10),
    "1000-e20": (1000, 20, "cnn2-8", 10),
    "1000-e20-cnn2": (1000, 20, "cnn2", 10),
    "500-e40": (500, 40, "cnn2-8", 10),
    "500-e20-cnn2": (500, 20, "cnn2", 10),
    "500-e40-r30": (500, 40, "cnn2-8", 30),
    "500-e20-r30-cnn2": (500, 20, "cnn2", 30),
}


def command(name: str) -> list[str]:
    samples, epochs, model, rounds = SETTINGS[name]
    return fedunlearn_run("experiments/fashion-mnist.toml",
                          f"seeds='{SEED}' train-samples={samples} local-epochs={epochs} model='{model}' "
                          f"num-server-rounds={rounds} {REQUEST}",
                          f"experiments/results/leakage/{name}")


def leaks(original: dict) -> bool:
    metrics = original["metrics"]
    return all((metrics.get(k) or 0) >= MIA_SIGNAL_AUC for k in ("rmia_auc", "mia_auc"))


def chosen(reports: dict[str, dict]) -> str | None:
    """The rule: the highest original test accuracy among the settings that leak on both attacks."""
    leaky = [n for n, r in reports.items() if leaks(r["models"]["original"])]
    return max(leaky, key=lambda n: reports[n]["models"]["original"]["metrics"]["test_acc"], default=None)


def write_report() -> None:
    reports = {name: load_run(RUNS / name / "report.json")
               for name in SETTINGS if (RUNS / name / "report.json").is_file()}
    pick = chosen(reports)
    lines = [
        "# The leakage regime: which Fashion-MNIST federation leaks membership", "",
        "Written by `experiments/leakage.py report` from the runs under `experiments/results/leakage/`; `python "
        "experiments/leakage.py run` computes them again. Each setting is one run of the client-deletion request "
        f"(client 1's samples, Dirichlet 0.5, 10 clients) on seed {SEED}, a tuning seed no other page "
        "reports. Columns are the **original** model's: `train_acc` is its accuracy on the retained training samples, "
        "`gen_gap` = train_acc - test_acc, `rmia_auc` and `rmia_tpr_1pct` the per-example attack (RMIA, 2 reference "
        "federations) on the forgotten samples against held-out ones, `mia_auc` the population attack's held-out AUC. "
        "The reference's `rmia_auc` (it never saw the forgotten samples) shows what no leakage looks like.", "",
        f"Rule, fixed before the runs: among the settings where both AUCs are at least {MIA_SIGNAL_AUC}, the one whose "
        "original has the highest test accuracy.", "",
        "| setting | training samples | local epochs | rounds | model | test_acc | train_acc | gen_gap | rmia_auc | "
        "rmia_tpr_1pct | mia_auc | reference's rmia_auc | leaks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, report in reports.items():
        samples, epochs, model, rounds = SETTINGS[name]
        original, reference = report["models"]["original"], report["models"]["retrain"]
        m = original["metrics"]
        lines.append(
            f"| {'**' + name + '**' if name == pick else name} | {samples or report['data']['train_samples']} | "
            f"{epochs} | {rounds} | {model} | {m['test_acc']:.3f} | {m['retain_acc']:.3f} | {m['retain_acc'] - m['test_acc']:+.3f} | "
            f"{m['rmia_auc']:.3f} | {m['rmia_tpr_1pct']:.3f} | {m['mia_auc']:.3f} | "
            f"{reference['metrics']['rmia_auc']:.3f} | {'yes' if leaks(original) else 'no'} |")
    lines += ["", f"Chosen: **{pick}**." if pick else "No setting leaks on both attacks.", "",
              *(f"- `{n}`: `{shown(command(n))}`" for n in reports), ""]
    if reports:
        config = next(iter(reports.values()))["experiment"]
        lines += [f"Every run: model cache `{config['cache-dir']}`, `rmia-offline-a` {config['rmia-offline-a']}, "
                  f"`rmia-gamma` {config['rmia-gamma']}; the per-run pages are beside the reports "
                  f"(`leakage/<setting>/report.md`). One seed per setting, so no intervals: a measurement to choose "
                  f"by, not a result.", ""]
    (RESULTS / "leakage.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["run", "report"])
    parser.add_argument("--only", nargs="*", choices=list(SETTINGS), help="run only these settings")
    args = parser.parse_args()
    if args.part == "run":
        for name in args.only or SETTINGS:
            execute(command(name))
    write_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
