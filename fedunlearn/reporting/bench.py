"""``fedunlearn bench [SUITE.toml]``: a matrix of scenarios x methods x seeds, one results page.

A suite file names its seeds, the keys every scenario shares (``[common]``) and the scenarios
(``[scenario.<name>]``, each a set of experiment keys plus a ``title``). Every scenario runs all its
methods in one experiment per seed, so they share that seed's original model and reference; a *cell*
is one (scenario, seed) and is stored as ``cells/<suite>/<scenario>/seed-<s>.json`` under the output folder. A
rerun skips every cell already stored for the same configuration, and references come from the
model cache when an earlier run trained them (the original is shared by every scenario with the same data, partition, seed,
backdoor and training). The page (``<page>.md``, ``<page>.json``,
``plots/<page>/``) has, per scenario, every method's metrics with 95% intervals, gaps to the reference,
verdict, cost and speedup; its name is the suite's ``page`` (default ``benchmark``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from fedunlearn.config import DEFAULTS, ConfigError, _safe_name, method_variants, read_toml, unread_method_keys
from fedunlearn.evaluation.evaluator import AVG_GAP_TEXT
from fedunlearn.evaluation.stats import interval_text
from fedunlearn.reporting import tuning
from fedunlearn.reporting.report import (
    NO_SIGNAL,
    md_table,
    mean_text,
    no_signal_note,
    notes,
    one_off_lines,
    sequential_rows,
)
from fedunlearn.reporting.seeds import REFERENCE, SECOND_REFERENCE, combine, sanity_lines
from fedunlearn.runtime import environment

SUITE_FIELDS = ("name", "page", "seeds", "common", "scenario", "tuned", "grid", "writes-tuned")
TABLE = (("forget_acc", "metrics.forget_acc"), ("retain_acc", "metrics.retain_acc"), ("test_acc", "metrics.test_acc"),
         ("test_retain_acc", "metrics.test_retain_acc"), ("test_forget_acc", "metrics.test_forget_acc"),
         ("mia_efficacy", "metrics.mia_efficacy"), ("rmia_auc", "metrics.rmia_auc"), ("backdoor_asr", "metrics.backdoor_asr"), ("avg_gap", "avg_gap"),
         ("client_rounds", "cost.client_rounds"), ("seconds", "cost.seconds"),
         ("speedup", "speedup.client_rounds"))


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    config: dict[str, Any]  # validated experiment configuration (seed set per cell)
    # method -> why it falls short of the reference's utility (the page shows it beside the shortfall it measures)
    explained: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    seeds: tuple[int, ...]
    scenarios: tuple[Scenario, ...]
    path: str
    page: str = "benchmark"  # the results page: <page>.md, <page>.json and plots/<page>/ in the output folder
    writes_tuned: str = ""  # a tuning suite (with a grid): where its chosen values go (fedunlearn/reporting/tuning.py)
    tuned: str = ""  # the tuned file the suite's methods read their values from, if any


# Keys that cannot change a stored cell's numbers: the experiment's name (a label: "<suite>-<scenario>", so a
# renamed suite keeps its cells), where the run writes (out-dir), where models are cached (cache-dir: a cached
# model is the model its key names), and the verdict's tolerance (the page applies it to the stored gaps; a cell
# holds none).
NEVER_DETERMINING = ("name", "out-dir", "cache-dir", "verdict-tolerance")
# Keys that act only once a client fails or answers late: how often it is asked again, how long a round waits,
# how many answers a round needs. A cell in whose every phase no client failed and none was asked again ran as it
# would have under any value of them; one that recorded a failure or a retry is computed again when they change.
FAILURE_ONLY = ("round-retries", "round-timeout", "round-deadline-factor", "round-deadline-floor", "min-clients")


def undetermining_keys(stored: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys that may differ between a stored cell's configuration and the suite's, for that cell to stand."""
    costs = [model.get(field) for model in stored.get("models", {}).values()
             for field in ("cost", "one_off_cost") if isinstance(model.get(field), dict)]
    untroubled = all(cost.get("failures", 0) == 0 and cost.get("retries", 0) == 0 for cost in costs)
    return NEVER_DETERMINING + (FAILURE_ONLY if untroubled else ())


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    seed: int
    path: Path  # where the cell's result is stored

    @property
    def config(self) -> dict[str, Any]:
        return {**self.scenario.config, "seed": self.seed, "seeds": ""}

    @property
    def label(self) -> str:
        return f"{self.scenario.name}, seed {self.seed}"

    def done(self) -> bool:
        """Stored, for a configuration that gives the same numbers (a changed scenario is computed again).

        Every key determines a cell's numbers except those of :func:`undetermining_keys` and the keys of
        methods the cell does not run (added, changed or removed since); a key added to fedunlearn after the
        cell was stored counts as set to its default, which is what the cell ran with.
        """
        if not self.path.is_file():
            return False
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            config = stored["config"]
        except (ValueError, KeyError):
            return False
        config = {**{k: DEFAULTS[k] for k in self.config.keys() - config.keys() if k in DEFAULTS}, **config}
        methods = [base for _, base, _ in method_variants(self.config)]
        free = set(undetermining_keys(stored)) | unread_method_keys(config.keys() | self.config.keys(), methods)
        return {k: v for k, v in config.items() if k not in free} == {k: v for k, v in self.config.items()
                                                                       if k not in free}

    def save(self, report: Mapping[str, Any], seconds: float | None = None) -> None:
        """Keep what the page needs from the cell's one-seed report (and the wall ``seconds`` it took), atomically."""
        seed = str(self.seed)
        cell = {"config": self.config, "machine": report.get("environment") or environment.describe(),
                "request": report["request"],
                "data": report["data"], "seconds": seconds,
                "evaluation_seconds": report.get("evaluation_seconds", {}).get(seed), "models": report["per_seed"][seed]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cell, indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))


def load_suite(path: str | Path, check: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Suite:
    """Read and validate a suite file; ``check`` validates one experiment (``check_experiment``).
    Raises ConfigError naming the file, the scenario and the key."""
    path = Path(path)
    raw = read_toml(path, "suite file")
    unknown = sorted(set(raw) - set(SUITE_FIELDS))
    if unknown:
        raise ConfigError(f"suite file {str(path)!r}: unknown field(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(SUITE_FIELDS)}")
    seeds = raw.get("seeds", [0])
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                       for s in seeds) and len(set(seeds)) == len(seeds)):
        raise ConfigError(f"suite file {str(path)!r}: seeds = {seeds!r}: must be a list of distinct seeds >= 0")
    common, scenarios = raw.get("common", {}), raw.get("scenario", {})
    if not isinstance(common, dict) or not isinstance(scenarios, dict) or not scenarios:
        raise ConfigError(f"suite file {str(path)!r}: needs a [common] table and at least one [scenario.<name>]")
    name = str(raw.get("name", path.stem))
    page = raw.get("page", "benchmark")
    for field, value in (("name", name), ("page", page)):
        if not isinstance(value, str) or _safe_name(value):  # both become file or folder names
            raise ConfigError(f"suite file {str(path)!r}: {field} = {value!r}: must be "
                              f"{_safe_name(str(value)) or 'a string'}")
    grid = tuning.check_grid(raw["grid"], f"suite file {str(path)!r}") if "grid" in raw else None
    writes_tuned = str(raw.get("writes-tuned", ""))
    if bool(grid) != bool(writes_tuned):
        raise ConfigError(f"suite file {str(path)!r}: a tuning suite needs both grid and writes-tuned")
    tuned = read_toml(raw["tuned"], f"suite file {str(path)!r}: tuned") if "tuned" in raw else None
    checked = []
    for scenario, values in scenarios.items():
        if _safe_name(scenario) or not isinstance(values, dict):  # names become folders: no '/', no '..'
            raise ConfigError(f"suite file {str(path)!r}: scenario {scenario!r}: must be a table named with "
                              f"{_safe_name(scenario) or 'a safe name'}")
        values = dict(values)
        title = str(values.pop("title", scenario))
        explained = values.pop("explained", {})
        if not isinstance(explained, dict) or not all(isinstance(v, str) for v in explained.values()):
            raise ConfigError(f"suite file {str(path)!r}: scenario {scenario!r}: explained = {explained!r}: must be "
                              "a table of method = \"why it falls short\"")
        for key in ("seed", "seeds", "name", "out-dir"):
            if key in values or key in common:
                raise ConfigError(f"suite file {str(path)!r}: scenario {scenario!r}: {key} is set by the suite")
        try:
            merged = {**common, **values, "name": f"{name}-{scenario}"}
            if grid:  # every grid point of a method is a variant of it
                merged["unlearn-methods"] = tuning.expand(merged.get("unlearn-methods", DEFAULTS["unlearn-methods"]),
                                                          grid)
            if tuned is not None:  # each method runs with the values tuned for this request kind
                group = tuning.request_group(check(merged))
                merged["tuned-methods"] = tuning.tuned_methods(tuned, group, f"tuned file {raw['tuned']!r}")
            config = check(merged)
        except ConfigError as exc:
            raise ConfigError(f"suite file {str(path)!r}: scenario {scenario!r}: {exc}") from None
        labels = [label for label, _, _ in method_variants(config)]
        if unknown := sorted(set(explained) - set(labels)):
            raise ConfigError(f"suite file {str(path)!r}: scenario {scenario!r}: explained names {', '.join(unknown)}, "
                              f"not among its methods ({', '.join(labels)})")
        checked.append(Scenario(scenario, title, config, dict(explained)))
    if tuned is not None:
        tuning.check_protocol(Path(raw["tuned"]).read_text(encoding="utf-8"), seeds,
                              {s.name: s.config for s in checked}, f"suite file {str(path)!r}")
    return Suite(name, tuple(seeds), tuple(checked), str(path), page, writes_tuned, str(raw.get("tuned", "")))


def cells(suite: Suite, out: Path) -> list[Cell]:
    """Every (scenario, seed) of the suite, stored under ``out/cells/<suite>/<scenario>/seed-<s>.json``."""
    return [Cell(s, seed, out / "cells" / suite.name / s.name / f"seed-{seed}.json")
            for s in suite.scenarios for seed in suite.seeds]


def scenario_report(scenario: Scenario, done: list[Cell]) -> dict[str, Any]:
    """The scenario's report over its seeds: means, intervals and verdicts as in ``fedunlearn run``."""
    stored = [c.load() for c in done]
    per_seed = {c.seed: s["models"] for c, s in zip(done, stored)}
    # The keys that could differ from the suite's without changing the numbers, as the cells ran with them
    ran_with = {k: stored[0]["config"][k] for k in undetermining_keys(stored[0]) if k in stored[0]["config"]}
    config = {**scenario.config, **ran_with, "seeds": ",".join(str(c.seed) for c in done)}
    report = combine(config, stored[0]["request"], per_seed, stored[0]["data"])
    report["title"] = scenario.title
    report["explained"] = dict(scenario.explained)
    report["cell_seconds"] = [s.get("seconds") for s in stored]
    report["cell_evaluation_seconds"] = [s.get("evaluation_seconds") for s in stored]
    return report


def _stat(entry: Mapping[str, Any], key: str) -> str:
    stats = entry["stats"].get(key)
    if not stats or stats.get("mean") is None:
        return "-"
    text = mean_text(key, stats["mean"])
    if key.startswith(("metrics.", "avg_gap")):
        text += interval_text(stats)
    gap = entry["stats"].get(f"gap.{key.split('.', 1)[1]}") if key.startswith("metrics.") else None
    if gap and gap.get("mean") is not None:
        text += f" ({gap['mean']:+.3f})"
    return text


def scenario_table(report: Mapping[str, Any]) -> list[str]:
    models = report["models"]
    columns = [(c, k) for c, k in TABLE if any((e["stats"].get(k) or {}).get("mean") is not None for e in models.values())]
    lines = ["| model | " + " | ".join(c for c, _ in columns) + " | verdict |", "|---|" + "---|" * (len(columns) + 1)]
    for name, entry in models.items():
        verdict = entry["verdict"]["overall"].split(" (")[0]
        cells = [_stat(entry, k) + (f" {NO_SIGNAL}" if k == "metrics.mia_efficacy" and NO_SIGNAL in _mark(entry) else "")
                 for _, k in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {verdict} |")
    if extra := notes(models):
        lines += ["", *extra[:-1]]  # each note after a blank line
    for line in sanity_lines(report):
        lines += ["", line]
    return lines


def _mark(entry: Mapping[str, Any]) -> str:
    return no_signal_note({"": entry})


def _timing(reports: Mapping[str, dict]) -> str:
    """How long computing the suite's cells took, from the wall time stored with each cell."""
    seconds = [t for r in reports.values() for t in r["cell_seconds"]]
    if not seconds or None in seconds:
        return "Cells computed before their wall time was recorded: no timing."
    total = sum(seconds)
    text = (f"Computing the {len(seconds)} cells took {total / 60:.1f} min in all (the sum of the cells' wall "
            "times, each measured when the cell was computed; Ray's start-up, once per simulation, is not "
            "included)")
    if len(reports) > 1:
        text += ": " + ", ".join(f"`{name}` {sum(r['cell_seconds']) / 60:.1f}" for name, r in reports.items())
    text += "."
    evaluation = [t for r in reports.values() for t in r.get("cell_evaluation_seconds", [])]
    if evaluation and None not in evaluation:
        text += (f" Scoring the models with the central evaluator took {sum(evaluation) / 60:.1f} min of it "
                 f"({sum(evaluation) / total:.0%}).")
    second = _trained_seconds(reports, lambda model: model == SECOND_REFERENCE)
    budgets = _trained_seconds(reports, lambda model: "[unlearn-rounds=" in model)
    parts = [f"{what} took {seconds / 60:.1f} min" for what, seconds in
             (("the second reference (`retrain-2`)", second), ("the rows at the papers' budgets", budgets)) if seconds]
    if parts:
        text += " Training " + " and ".join(parts) + "."
    return text


def _trained_seconds(reports: Mapping[str, dict], chosen: Callable[[str], bool]) -> float:
    """Seconds the chosen models cost over every cell (mean cost x seeds), leaving out seeds whose model came from
    the cache (not trained in that cell)."""
    total = 0.0
    for report in reports.values():
        for model, entry in report["models"].items():
            if not chosen(model):
                continue
            reused = sum((d or {}).get("cache") == "reused" for d in (entry.get("details") or {}).values())
            total += entry["cost"]["seconds"] * (len(report["seeds"]) - reused)
    return total


def tuned_line(suite: Suite) -> str:
    """Where the suite's hyperparameters come from, and what the tuning could see."""
    header = tuning.tuned_header(Path(suite.tuned).read_text(encoding="utf-8")) if Path(suite.tuned).is_file() else {}
    seeds = ", ".join(map(str, header.get("seeds", []))) or "not recorded"
    return (f"Hyperparameters: every method runs with the values in `{suite.tuned}` for its scenario's request kind "
            f"(the key `tuned-methods` below), chosen by `{header.get('command') or 'not recorded'}` on tuning seeds "
            f"{seeds} and the validation half of the test split, by the rule: {tuning.RULE}. The reference entered "
            "the tuning only there; this page reports other seeds, scored on the other half of the test split.")


def machines(cells: list[Cell]) -> str:
    """Where the cells were computed, as each recorded it: one machine, or each with its number of cells (a page
    rebuilt elsewhere still names the machines that measured it)."""
    counts: dict[str, int] = {}
    for cell in cells:
        machine = cell.load().get("machine", "not recorded")
        counts[machine] = counts.get(machine, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return "; ".join(f"{machine} ({n} cells)" for machine, n in counts.items())


def write_page(suite: Suite, reports: Mapping[str, dict], out: Path, command: str, machine: str,
               missing: list[Cell] = ()) -> Path:
    """``<page>.md``, ``<page>.json``, ``<page>.html`` (the leaderboard) and ``plots/<page>/`` in ``out``. ``reports`` holds the scenarios with at
    least one stored cell; a page with ``missing`` cells says which, at its top and in each scenario."""
    from fedunlearn.reporting.plots import write_benchmark_plot

    out.mkdir(parents=True, exist_ok=True)
    slim = {name: {k: v for k, v in r.items() if k != "per_seed"} for name, r in reports.items()}
    (out / f"{suite.page}.json").write_text(json.dumps({"suite": suite.name, "seeds": list(suite.seeds),
                                                        "command": command, "machine": machine, "scenarios": slim},
                                                       indent=1) + "\n", encoding="utf-8")
    plot = write_benchmark_plot(reports, out / "plots" / suite.page / "avg_gap_and_speedup.png")
    lines = [
        f"# Benchmark: {suite.name}",
        "",
        f"Suite `{suite.path}`, seeds {', '.join(map(str, suite.seeds))}: means over seeds, ± half-width of the 95% "
        "t-interval ([low, high] where the interval is truncated to the metric's range; \"n/n seeds at 0\" where "
        "every seed sits at a bound), in brackets the gap to the reference (`retrain`, FedAvg from scratch without "
        "the deleted data; "
        f"the goal is a gap of 0). `mia_efficacy` is SalUn's MIA-efficacy (a population attack), `rmia_auc` the "
        "per-example attack's AUC on the forgotten samples against held-out ones (RMIA; 0.5: cannot tell them apart; "
        f"docs/evaluator.md). `avg_gap` = {AVG_GAP_TEXT}; "
        "`speedup` = the reference's client trainings / the method's; `seconds` is wall time of the phase. "
        "The verdict is the equivalence test of `fedunlearn run`: each metric's gap within ± its margin, "
        + ("the noise floor's where the scenario trains a second reference (given under its table), else "
           if any(s.config.get("noise-floor") for s in suite.scenarios) else "")
        + f"the tolerance {suite.scenarios[0].config['verdict-tolerance']}.",
        "",
        f"Command: `{command}`. Machine: {machine}.",
        "",
        *([tuned_line(suite), ""] if suite.tuned else []),
        _timing(reports),
        "",
        f"![avg_gap and speedup per scenario]({plot.relative_to(out)})",
        "",
    ]
    if missing:
        total = len(suite.scenarios) * len(suite.seeds)
        lines[1:1] = ["", f"**Partial page: {total - len(missing)} of the suite's {total} cells are computed.** "
                      "Missing: " + "; ".join(c.label for c in missing) + f". `fedunlearn bench {suite.path}` "
                      "computes them and rewrites this page."]
    for scenario in suite.scenarios:
        if scenario.name not in reports:
            lines += [f"## {scenario.title} (`{scenario.name}`)", "", "Not computed yet.", ""]
            continue
        report = reports[scenario.name]
        changed = {k: v for k, v in scenario.config.items() if k not in ("name",) and DEFAULTS.get(k) != v}
        lines += [f"## {scenario.title} (`{scenario.name}`)", "",
                  "Keys different from the defaults: " + ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in
                                                                   changed.items()) + ".", "",
                  *scenario_table(report), ""]
        if one_off := one_off_lines(report["models"]):  # WF-Net's filters, GENIU's generator (means over seeds)
            lines += [line for line in one_off if line] + [""]
        if None not in report["cell_seconds"]:
            evaluation = report.get("cell_evaluation_seconds") or []
            lines += [f"Wall time per seed (every model of the scenario, evaluation included): "
                      + ", ".join(f"{t:.0f} s" for t in report["cell_seconds"])
                      + (f"; of it, scoring the models: " + ", ".join(f"{t:.0f} s" for t in evaluation)
                         if evaluation and None not in evaluation else "") + ".", ""]
        header, rows = sequential_rows(report)
        if rows:
            lines += ["Forget accuracy on each request's class (training samples) after each request a method "
                      "served, mean over seeds:", "", *md_table(header, rows), ""]
        for model in ("original", REFERENCE):
            cached = [s for s, d in (report["models"][model].get("details") or {}).items()
                      if (d or {}).get("cache") == "reused"]
            if cached:
                lines += [f"The {model} model of seed(s) {', '.join(cached)} was reused from the cache.", ""]
    (out / f"{suite.page}.md").write_text("\n".join(lines), encoding="utf-8")
    from fedunlearn.reporting.board import write_suite_board

    write_suite_board(out / f"{suite.page}.json")  # the leaderboard, beside the page (with its claims page's claims)
    return out / f"{suite.page}.md"


def write_tuned(suite: Suite, reports: Mapping[str, dict], page: Path, command: str) -> None:
    """A tuning suite's chosen values: the file ``suite.writes_tuned`` and a section at the end of its page (one
    request kind per scenario: two scenarios of one kind are refused, since the rule would pick twice)."""
    selection: dict[str, dict] = {}
    computed = {tuning.request_group(s.config): [] for s in suite.scenarios}
    for scenario in suite.scenarios:
        if scenario.name not in reports:
            continue
        group = tuning.request_group(scenario.config)
        if group in selection:
            raise ConfigError(f"suite file {suite.path!r}: two scenarios tune the request kind {group!r}")
        selection[group] = tuning.select(reports[scenario.name])
        computed[group] = list(reports[scenario.name]["seeds"])
    Path(suite.writes_tuned).parent.mkdir(parents=True, exist_ok=True)
    Path(suite.writes_tuned).write_text(tuning.tuned_text(selection, command, list(suite.seeds), computed),
                                        encoding="utf-8")
    with open(page, "a", encoding="utf-8") as handle:
        handle.write("\n".join(["", *tuning.page_lines(selection, suite.writes_tuned)]))
