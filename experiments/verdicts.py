"""The claims page's arithmetic: per-seed values from a suite's stored cells, intervals, and the held / not held /
inconclusive verdicts that experiments/claims.py writes.

Every verdict on the page is a pair of one-sided t-tests over seeds: does the claim hold (its side of the bound),
does it fail (the other side)? The page is one family: Holm's step-down correction runs over all its tests at
family-wise level 0.05, so a verdict is written as a placeholder while the page is built and decided once every
test is known (:class:`Family`). With all seeds' values equal, a test's p-value is 0 on the side they lie and 1
on the other; with one seed there is no test, and the point value decides, marked "(one seed)".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from scipy import stats as scipy_stats

from fedunlearn.evaluation.stats import holm
from fedunlearn.reporting.report import md_table
from fedunlearn.reporting.seeds import with_gaps

NOT_YET = "Not computed yet: scenario {} of the suite (`fedunlearn bench experiments/bench/fashion-mnist.toml` computes it)."


def table_or_missing(header: list[str], rows: list[list[str]], scenarios: str) -> list[str]:
    """The table, or the line saying which of the suite's scenarios it waits for."""
    return md_table(header, rows) if rows else [NOT_YET.format(scenarios)]


def stat(entry: Mapping[str, Any], key: str) -> dict | None:
    return (entry.get("stats") or {}).get(key)


def margin(report: Mapping[str, Any], key: str) -> float:
    """The equivalence and non-inferiority margin of metric ``key`` in a scenario: the noise floor's (set by how far
    a second retraining is from the first, :func:`fedunlearn.reporting.seeds.noise_floor`) where the suite trained
    one, else the suite's ``verdict-tolerance``."""
    floor = (report.get("noise_floor") or {}).get(key)
    return floor["margin"] if floor else report["experiment"]["verdict-tolerance"]


def fmt(summary: Mapping[str, Any] | None, digits: int = 3) -> str:
    """mean [low, high] of a summary (the 95% interval), the mean and the count of seeds at a bound where every
    seed sits at it ("0.000 (5/5 seeds at 0)"), or the mean alone with one seed."""
    if not summary or summary.get("mean") is None:
        return "-"
    text = f"{summary['mean']:.{digits}f}"
    if summary.get("at_bound") is not None:
        return text + f" ({summary['n']}/{summary['n']} seeds at {summary['at_bound']:g})"
    if summary.get("ci95"):
        low, high = summary["ci95"]
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


class Family:
    """The page's tests. ``test`` returns a placeholder for a verdict; ``all_of`` one for a claim made of parts;
    ``resolve`` replaces every placeholder in the finished page by held, not held or inconclusive under Holm's
    correction over all the page's one-sided tests."""

    def __init__(self, alpha: float = 0.05) -> None:
        self.alpha = alpha
        self.tests: dict[str, tuple[float, float]] = {}  # token -> (p that it holds, p that it fails)
        self.parts: dict[str, list[str]] = {}  # token -> its parts' tokens or verdicts

    def reset(self) -> None:
        self.tests.clear()
        self.parts.clear()

    def test(self, p_holds: float, p_fails: float) -> str:
        token = f"\x00V{len(self.tests) + len(self.parts)}\x00"
        self.tests[token] = (p_holds, p_fails)
        return token

    def all_of(self, verdicts: list[str]) -> str:
        token = f"\x00V{len(self.tests) + len(self.parts)}\x00"
        self.parts[token] = list(verdicts)
        return token

    def decided(self) -> dict[str, str]:
        rejected = holm({f"{t}+": p for t, (p, _) in self.tests.items()}
                        | {f"{t}-": p for t, (_, p) in self.tests.items()}, self.alpha)
        out = {t: "held" if rejected[f"{t}+"] else "not held" if rejected[f"{t}-"] else "inconclusive"
               for t in self.tests}
        for token, parts in self.parts.items():  # composites refer only to earlier tokens
            out[token] = combine_parts([out.get(p, p) for p in parts])
        return out

    def resolve(self, text: str) -> str:
        for token, verdict in self.decided().items():
            text = text.replace(token, verdict)
        return text


FAMILY = Family()  # the page's family; experiments/claims.py resolves it once the page is written


def one_sided(summary: Mapping[str, Any], bound: float) -> tuple[float, float]:
    """(p that the mean is below ``bound``, p that it is above), from a summary's mean, std and n."""
    mean, std, n = summary["mean"], summary.get("std") or 0.0, summary["n"]
    if std == 0:
        return (0.0 if mean < bound else 1.0), (0.0 if mean > bound else 1.0)
    t = (mean - bound) / (std / n ** 0.5)
    return float(scipy_stats.t.cdf(t, n - 1)), float(scipy_stats.t.sf(t, n - 1))


def at_most(summary: Mapping[str, Any] | None, bound: float) -> str:
    """held when the mean is shown below ``bound`` (a one-sided test, Holm-corrected over the page), not held when
    it is shown above, else inconclusive; with one seed the point value decides."""
    if not summary or summary.get("mean") is None:
        return "no data"
    if summary["n"] < 2:
        return ("held" if summary["mean"] <= bound else "not held") + " (one seed)"
    if summary.get("std") == 0 and summary["mean"] == bound:  # every seed exactly at the bound: "at most" holds
        return FAMILY.test(0.0, 1.0)
    below, above = one_sided(summary, bound)
    return FAMILY.test(below, above)


def at_least(summary: Mapping[str, Any] | None, bound: float) -> str:
    """held when the mean is shown above ``bound``, not held when shown below, else inconclusive (as at_most)."""
    if not summary or summary.get("mean") is None:
        return "no data"
    if summary["n"] < 2:
        return ("held" if summary["mean"] >= bound else "not held") + " (one seed)"
    if summary.get("std") == 0 and summary["mean"] == bound:
        return FAMILY.test(0.0, 1.0)
    below, above = one_sided(summary, bound)
    return FAMILY.test(above, below)


def paired_less(reports: Mapping[str, Any], scenario: str, a: str, b: str, key: str = "avg_gap") -> tuple[str, str]:
    """Whether ``a``'s ``key`` is below ``b``'s, paired by seed (superiority: the difference a - b below 0):
    (verdict, the difference with its interval)."""
    from fedunlearn.evaluation.stats import summary

    seeds = reports[scenario]["seeds"]
    per_seed = reports[scenario].get("per_seed_values", {})
    diffs = [per_seed[a][str(s)][key] - per_seed[b][str(s)][key] for s in seeds
             if per_seed.get(a, {}).get(str(s), {}).get(key) is not None
             and per_seed.get(b, {}).get(str(s), {}).get(key) is not None]
    if not diffs:
        return "no data", "-"
    diff = summary(diffs)
    if diff["n"] < 2:
        return ("held" if diff["mean"] < 0 else "not held") + " (one seed)", fmt(diff)
    below, above = one_sided(diff, 0.0)
    return FAMILY.test(below, above), fmt(diff)


def per_seed_values(cells_root: Path, suite: str, scenario: str) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {seed: {"avg_gap": ..., "abs_neighbour_mia_gap": ..., ...}}} from the stored cells."""
    values: dict[str, dict[str, dict[str, float]]] = {}
    for cell in sorted((cells_root / suite / scenario).glob("seed-*.json")):
        stored = json.loads(cell.read_text(encoding="utf-8"))
        seed = str(stored["config"]["seed"])
        for name, entry in with_gaps(stored["models"]).items():  # gaps and Avg Gap by the current definitions
            gap = entry["gap"]
            values.setdefault(name, {})[seed] = {
                "avg_gap": entry["avg_gap"],
                "abs_neighbour_mia_gap": None if gap.get("neighbour_mia") is None else abs(gap["neighbour_mia"]),
                "seconds": entry["cost"]["seconds"],
                "test_acc": entry["metrics"].get("test_acc"),
            }
    return values


def load_reports(path: Path) -> dict[str, Any]:
    """A suite's page data, each scenario with its per-seed values from the stored cells beside the page."""
    bench = json.loads(path.read_text(encoding="utf-8"))
    reports = bench["scenarios"]
    for name, report in reports.items():
        values = per_seed_values(path.parent / "cells", bench["suite"], name)
        for model, entry in report["models"].items():  # a diverged seed is no measurement of the method
            for seed in entry.get("diverged") or []:
                values.get(model, {}).pop(str(seed), None)
        report["per_seed_values"] = values
    return reports



def combine_parts(verdicts: list[str]) -> str:
    """A claim made of parts holds when every part holds and fails when one part fails."""
    verdicts = [v.replace(" (one seed)", "") for v in verdicts]
    return "held" if all(v == "held" for v in verdicts) else "not held" if "not held" in verdicts else "inconclusive"


def all_of(verdicts: list[str]) -> str:
    """The verdict of a claim made of parts: decided with the page's family."""
    return FAMILY.all_of(verdicts)



def order_verdict(pairs: list[tuple]) -> str:
    """An order holds when every neighbouring pair holds, is broken when one pair is reversed."""
    return all_of([pair[2] for pair in pairs])
