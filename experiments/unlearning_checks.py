"""What the end-to-end tests demand of each method, and the seeds that justify their tolerances.

`tests/test_unlearning.py` runs the three scenarios below once (seed 0) and asserts, per method, what the method is
for, against the original model and the reference of that run:

- class methods bring `test_forget_acc` to the reference's neighbourhood: at most the reference's plus FORGET of the
  way from the reference's to the original's;
- client methods bring the planted backdoor's success rate toward the reference's: at most the reference's plus
  BACKDOOR of the way to the original's;
- sample methods (the request: the samples that carry a planted backdoor, which the original learns and the reference
  never sees) move `forget_acc` toward the reference's: their gap to it is at most MOVE of the original's gap;
- and every method keeps its utility: `test_retain_acc` (class), `test_acc` (client) or `retain_acc` (sample) at
  least the reference's minus UTILITY.

A check a method is known not to meet in these settings is listed in KNOWN_SHORT with the reason; the test expects it
to fail (a strict expected failure: the day it passes, the test says so), and the method's other checks still hold it
to its purpose. The tolerances are chosen from the same
runs over SEEDS (`python experiments/unlearning_checks.py run`), whose every value the page
`experiments/results/unlearning-checks.md` shows next to its tolerance (`... report` rewrites it from the runs).
"""

from __future__ import annotations

import argparse
import json

from commands import ROOT, execute, fedunlearn_run

RESULTS = ROOT / "experiments" / "results"
RUNS = RESULTS / "unlearning-checks"
SEEDS = "0,1,2,3,4"
BASE = ("dataset='digits' model='mlp' num-clients=3 partitioner='iid' num-server-rounds=8 local-epochs=1 "
        "unlearn-rounds=2 round-deadline-floor=30")  # no late-answer retries on a loaded machine: counts are exact
SCENARIOS = {  # name -> (request keys, the methods checked)
    "class": ("forget-class=3 fucrt-min-samples=3 wfnet-rounds=1",
              ["finetune", "fucrt", "head-tilt", "salun", "lra-npp", "wf-net", "geniu", "not"]),
    "client": ("forget-class=-1 forget-client=1 backdoor-client=1 backdoor-fraction=0.5",
               ["finetune", "not", "gradient-ascent", "federaser", "salun"]),
    "sample": ("forget-class=-1 backdoor-client=1 backdoor-fraction=0.3 forget-backdoor=true",
               ["finetune", "not", "gradient-ascent", "salun", "l2ul[l2ul-eps=0.58]"]),
}
FORGET, BACKDOOR, MOVE = 0.25, 0.5, 0.5  # shares of the way from the reference's value to the original's
UTILITY = 0.10  # accuracy below the reference's
QUANTITIES = {"class": ("test_forget_acc", "test_retain_acc"), "client": ("backdoor_asr", "test_acc"),
              "sample": ("forget_acc gap", "retain_acc")}
# (scenario, method, quantity) -> why it falls short here, as the page's five seeds show
_BASELINE = "fine-tuning is the baseline, not an unlearning method: two rounds on retained data keep most of it"
KNOWN_SHORT: dict[tuple[str, str, str], str] = {
    ("class", "finetune", "test_forget_acc"): _BASELINE,
    ("client", "finetune", "backdoor_asr"): _BASELINE,
    ("sample", "finetune", "forget_acc gap"): _BASELINE,
    ("class", "head-tilt", "test_retain_acc"): "at learning rate 0.05 the tilted targets cost retained accuracy on this MLP "
                                         "(the Fashion-MNIST learning-rate page: it recovers at 0.01)",
    ("class", "geniu", "test_forget_acc"): "in-batch tuning on the proxies (each client's least certain sample of a "
                                           "class, through the averaged VAE) moves real images of the class only part "
                                           "of the way",
    ("class", "not", "test_retain_acc"): "two rounds of fine-tuning at 0.05 do not recover the negated first layer",
    ("client", "not", "test_acc"): "two rounds of fine-tuning at 0.05 do not recover the negated first layer",
    ("sample", "not", "retain_acc"): "two rounds of fine-tuning at 0.05 do not recover the negated first layer",
    ("sample", "l2ul[l2ul-eps=0.58]", "retain_acc"): "its weight-importance penalty does not hold the retained "
                                                     "accuracy on this MLP",
}


def run_config(scenario: str, seeds: str | None = None, extra: tuple[str, ...] = ()) -> str:
    """The run configuration of a scenario (``seeds``: several seeds in one run) with every method checked there
    and ``extra`` methods beside them."""
    request, methods = SCENARIOS[scenario]
    text = f"{BASE} {request} unlearn-methods='{','.join([*methods, *extra])}'"
    return f"{text} seeds='{seeds}'" if seeds else text


def _toward(ref: dict, original: dict, key: str, share: float) -> float:
    """The reference's value plus ``share`` of the way to the original's."""
    return ref[key] + share * (original[key] - ref[key])


def checks(scenario: str, models: dict) -> dict[str, dict[str, tuple[float, float, bool]]]:
    """Per method: {quantity: (value, bound, whether it holds)} in one seed's (or one run's) models."""
    ref, original = models["retrain"]["metrics"], models["original"]["metrics"]
    out = {}
    for method in SCENARIOS[scenario][1]:
        m = models[method]["metrics"]
        if scenario == "class":
            quantities = {"test_forget_acc": (m["test_forget_acc"], _toward(ref, original, "test_forget_acc", FORGET),
                                              "<="),
                          "test_retain_acc": (m["test_retain_acc"], ref["test_retain_acc"] - UTILITY, ">=")}
        elif scenario == "client":
            quantities = {"backdoor_asr": (m["backdoor_asr"], _toward(ref, original, "backdoor_asr", BACKDOOR), "<="),
                          "test_acc": (m["test_acc"], ref["test_acc"] - UTILITY, ">=")}
        else:
            quantities = {"forget_acc gap": (abs(m["forget_acc"] - ref["forget_acc"]),
                                             MOVE * abs(original["forget_acc"] - ref["forget_acc"]), "<="),
                          "retain_acc": (m["retain_acc"], ref["retain_acc"] - UTILITY, ">=")}
        out[method] = {q: (v, b, v <= b if op == "<=" else v >= b) for q, (v, b, op) in quantities.items()}
    return out


def run(scenarios: list[str]) -> None:
    for scenario in scenarios:
        execute(fedunlearn_run("experiments/default.toml", run_config(scenario, SEEDS),
                               f"experiments/results/unlearning-checks/{scenario}"))


def report() -> None:
    lines = [
        "# What the end-to-end tests demand of each method, over seeds",
        "",
        "Written by `python experiments/unlearning_checks.py report` from the runs under "
        "`experiments/results/unlearning-checks/` (`python experiments/unlearning_checks.py run` runs them). "
        "`tests/test_unlearning.py` runs each scenario with seed 0 and asserts the checks below; the other seeds "
        "show how far from its bound each value falls when nothing but the seed changes. Settings: "
        f"`{BASE}` (digits, a small MLP, 3 clients); tolerances (experiments/unlearning_checks.py): FORGET "
        f"{FORGET}, BACKDOOR {BACKDOOR} and MOVE {MOVE} of the way from the reference's value to the original's, "
        f"UTILITY {UTILITY} below the reference's accuracy.",
        "",
    ]
    for scenario in SCENARIOS:
        path = RUNS / scenario / "report.json"
        if not path.is_file():
            lines += [f"## {scenario}", "", "Not run yet.", ""]
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        seeds = sorted(data["per_seed"], key=int)
        lines += [f"## {scenario}", "", f"Command: `fedunlearn run experiments/default.toml --run-config "
                  f"\"{run_config(scenario, SEEDS)}\" --out experiments/results/unlearning-checks/{scenario}`.", "",
                  "| method | quantity | bound, seed by seed | value, seed by seed | holds on |",
                  "|---|---|---|---|---|"]
        per_seed = {s: checks(scenario, data["per_seed"][s]) for s in seeds}
        for method in SCENARIOS[scenario][1]:
            for quantity in per_seed[seeds[0]][method]:
                values = [per_seed[s][method][quantity] for s in seeds]
                held = sum(ok for _, _, ok in values)
                why = KNOWN_SHORT.get((scenario, method, quantity))
                note = f" (known short: {why})" if why else ""
                lines.append(f"| {method} | {quantity} | {' '.join(f'{b:.3f}' for _, b, _ in values)} | "
                             f"{' '.join(f'{v:.3f}' for v, _, _ in values)} | {held}/{len(values)} seeds{note} |")
        lines.append("")
    (RESULTS / "unlearning-checks.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS / 'unlearning-checks.md'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["run", "report"])
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], help="run these only (default: all)")
    args = parser.parse_args()
    if args.part == "run":
        run(args.scenarios or list(SCENARIOS))
    report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
