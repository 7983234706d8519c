"""The claims page's arithmetic: per-seed values from a suite's stored cells, intervals, and the held / not held /
inconclusive verdicts that experiments/claims.py writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from fedunlearn.reporting.report import md_table

ACC_GAP_KEYS = ("forget_acc", "retain_acc", "test_acc")
NOT_YET = "Not computed yet: scenario {} of the suite (`fedunlearn bench experiments/bench/fashion-mnist.toml` computes it)."


def table_or_missing(header: list[str], rows: list[list[str]], scenarios: str) -> list[str]:
    """The table, or the line saying which of the suite's scenarios it waits for."""
    return md_table(header, rows) if rows else [NOT_YET.format(scenarios)]


def stat(entry: Mapping[str, Any], key: str) -> dict | None:
    return (entry.get("stats") or {}).get(key)


def fmt(summary: Mapping[str, Any] | None, digits: int = 3) -> str:
    """mean [low, high] of a summary (the 95% interval), or the mean alone with one seed."""
    if not summary or summary.get("mean") is None:
        return "-"
    text = f"{summary['mean']:.{digits}f}"
    if summary.get("ci95"):
        low, high = summary["ci95"]
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def at_most(summary: Mapping[str, Any] | None, bound: float) -> str:
    """held when the whole interval is at most ``bound``, not held when all of it is above, else inconclusive."""
    if not summary or summary.get("mean") is None:
        return "no data"
    low, high = summary["ci95"] or (summary["mean"], summary["mean"])
    return "held" if high <= bound else "not held" if low > bound else "inconclusive"


def at_least(summary: Mapping[str, Any] | None, bound: float) -> str:
    """held when the whole interval is at least ``bound``, not held when all of it is below, else inconclusive."""
    if not summary or summary.get("mean") is None:
        return "no data"
    low, high = summary["ci95"] or (summary["mean"], summary["mean"])
    return "held" if low >= bound else "not held" if high < bound else "inconclusive"


def paired_less(reports: Mapping[str, Any], scenario: str, a: str, b: str, key: str = "avg_gap") -> tuple[str, str]:
    """Whether ``a``'s ``key`` is below ``b``'s, paired by seed: (verdict, the difference a - b with its interval)."""
    from fedunlearn.evaluation.stats import summary

    seeds = reports[scenario]["seeds"]
    per_seed = reports[scenario].get("per_seed_values", {})
    diffs = [per_seed[a][str(s)][key] - per_seed[b][str(s)][key] for s in seeds
             if per_seed.get(a, {}).get(str(s), {}).get(key) is not None
             and per_seed.get(b, {}).get(str(s), {}).get(key) is not None]
    if not diffs:
        return "no data", "-"
    diff = summary(diffs)
    low, high = diff["ci95"] or (diff["mean"], diff["mean"])
    verdict = "held" if high < 0 else "not held" if low > 0 else "inconclusive"
    return verdict, fmt(diff)


def per_seed_values(cells_root: Path, suite: str, scenario: str) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {seed: {"avg_gap": ..., "abs_neighbour_mia_gap": ..., ...}}} from the stored cells."""
    values: dict[str, dict[str, dict[str, float]]] = {}
    for cell in sorted((cells_root / suite / scenario).glob("seed-*.json")):
        stored = json.loads(cell.read_text(encoding="utf-8"))
        seed = str(stored["config"]["seed"])
        for name, entry in stored["models"].items():
            gap = entry["gap"]
            values.setdefault(name, {})[seed] = {
                "avg_gap": entry["avg_gap"],
                "abs_neighbour_mia_gap": None if gap.get("neighbour_mia") is None else abs(gap["neighbour_mia"]),
                "seconds": entry["cost"]["seconds"],
                "test_acc": entry["metrics"].get("test_acc"),
                # Avg Gap without its MIA term, for models whose outputs carry no membership signal
                "acc_gap": sum(abs(gap[k]) for k in ACC_GAP_KEYS) / len(ACC_GAP_KEYS),
            }
    return values


def load_reports(path: Path) -> dict[str, Any]:
    """A suite's page data, each scenario with its per-seed values from the stored cells beside the page."""
    bench = json.loads(path.read_text(encoding="utf-8"))
    reports = bench["scenarios"]
    for name in reports:
        reports[name]["per_seed_values"] = per_seed_values(path.parent / "cells", bench["suite"], name)
    return reports



def all_of(verdicts: list[str]) -> str:
    """A claim made of parts holds when every part holds and fails when one part fails."""
    return "held" if all(v == "held" for v in verdicts) else "not held" if "not held" in verdicts else "inconclusive"



def order_verdict(pairs: list[tuple]) -> str:
    """An order holds when every neighbouring pair holds, is broken when one pair is reversed."""
    return all_of([pair[2] for pair in pairs])
