"""Tuning each method's hyperparameters per request kind, on validation data and tuning seeds, into a file suites read.

A *tuning suite* is a benchmark suite with a ``grid`` (per method, the values of its learning rate and its main knob)
and a ``writes-tuned`` path. Its scenarios (one per request kind) run every grid point as a variant of the method on
the tuning seeds, scored on the validation half of the test split (``test-half = "validation"``), against the
reference. :func:`select` applies the rule below; :func:`tuned_text` writes the chosen values, which a suite reads
through its ``tuned`` field (each method of a scenario then runs with the values of the scenario's request kind:
``tuned-methods``). All pure functions of suite tables and reports; ``fedunlearn bench`` calls them.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any, Mapping

from fedunlearn.config import ConfigError, method_variants, request_kind

RULE = ("per request kind and method, the grid point with the smallest mean Avg Gap to the reference over the tuning "
        "seeds, scored on the validation half of the test split, among the points that diverged on no tuning seed "
        "(the first in grid order on a tie); a method all of whose points diverged keeps its defaults")


def request_group(config: Mapping[str, Any]) -> str:
    """The request kind a tuned value is chosen for: ``class`` (sequential class requests too), ``client``, ``sample``."""
    kind = request_kind(config)
    return "class" if kind == "sequential" else kind


def _entry(name: str, overrides: Mapping[str, Any]) -> str:
    return f"{name}[{';'.join(f'{k}={json.dumps(v)}' for k, v in overrides.items())}]" if overrides else name


def expand(methods: str, grid: Mapping[str, Mapping[str, list]]) -> str:
    """``unlearn-methods`` with each plain method that has a grid replaced by one variant per grid point (the product
    of its keys' values, in the order written); methods without a grid, and variants, stay as they are."""
    out = []
    for entry in (e.strip() for e in methods.split(",") if e.strip()):
        keys = grid.get(entry)
        if not keys:
            out.append(entry)
            continue
        for point in itertools.product(*keys.values()):
            out.append(_entry(entry, dict(zip(keys, point))))
    return ",".join(out)


def check_grid(grid: Any, where: str) -> dict[str, dict[str, list]]:
    """The ``grid`` table of a tuning suite: {method: {key: [values]}}; a ConfigError names what is wrong."""
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{where}: grid must be a table of [grid.<method>] tables")
    for method, keys in grid.items():
        if not isinstance(keys, dict) or not keys or not all(isinstance(v, list) and v for v in keys.values()):
            raise ConfigError(f"{where}: grid.{method} must map each key to a non-empty list of values, such as "
                              "learning-rate = [0.01, 0.05]")
    return grid


def select(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The rule (:data:`RULE`) on one tuning scenario's report: {method: {"overrides", "label", "avg_gap",
    "points", "diverged"}} for every method that ran grid points (labels ``name[...]``)."""
    config = report["experiment"]
    points: dict[str, list[tuple[str, dict]]] = {}
    for label, base, overrides in method_variants(config):
        if overrides:
            points.setdefault(base, []).append((label, overrides))
    chosen = {}
    for base, candidates in points.items():
        models = report["models"]
        viable = [(label, o) for label, o in candidates if not models[label].get("diverged")]
        best = min(viable, key=lambda c: models[c[0]]["avg_gap"], default=None)
        chosen[base] = {"overrides": dict(best[1]) if best else {}, "label": best[0] if best else None,
                        "avg_gap": models[best[0]]["avg_gap"] if best else None, "points": len(candidates),
                        "diverged": len(candidates) - len(viable),
                        "at_edge": at_edge(best[1], [o for _, o in candidates]) if best else []}
    return chosen


def at_edge(chosen: Mapping[str, Any], points: list[Mapping[str, Any]]) -> list[str]:
    """The keys whose chosen value is the smallest or largest of three or more in the grid: the best may lie
    beyond it."""
    edge = []
    for key, value in chosen.items():
        values = sorted({p[key] for p in points if key in p and isinstance(p[key], (int, float))})
        if len(values) >= 3 and value in (values[0], values[-1]):
            edge.append(key)
    return edge


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def tuned_text(selection: Mapping[str, Mapping[str, Mapping[str, Any]]], command: str, seeds: list[int],
               computed: Mapping[str, list] | None = None) -> str:
    """The tuned file: a [<request kind>.<method>] table of chosen keys each (an empty table: defaults kept);
    ``computed`` names the seeds each request kind was chosen on, where not every cell is computed yet."""
    partial = [f"{group}: " + (f"seeds {', '.join(map(str, s))}" if s else "none, its methods keep their defaults")
               for group, s in (computed or {}).items() if list(s) != seeds]
    lines = [f"# Tuned hyperparameters, written by `{command}`.",
             f"# Rule: {RULE}. Tuning seeds: {', '.join(map(str, seeds))}.",
             *([f"# Partial: chosen on {'; '.join(partial)} (the other cells are not computed yet)."] if partial else []),
             "# A suite reads this file through its `tuned` field; its pages report the other half of the test split.", ""]
    for group, methods in selection.items():
        for method, choice in methods.items():
            lines.append(f"[{group}.{method}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in choice["overrides"].items()]
            lines.append("")
    return "\n".join(lines)


def tuned_header(text: str) -> dict[str, Any]:
    """What a tuned file's first comment lines (:func:`tuned_text`) say: the ``command`` that wrote it and its tuning
    ``seeds`` (empty where the file does not say)."""
    command = re.search(r"^# Tuned hyperparameters, written by `([^`]+)`", text, re.M)
    seeds = re.search(r"Tuning seeds: ([\d, ]+)\.", text)
    return {"command": command.group(1) if command else "",
            "seeds": [int(s) for s in seeds.group(1).split(",")] if seeds else []}


def check_protocol(tuned_text_: str, seeds: list[int], scenarios: Mapping[str, Mapping[str, Any]], where: str) -> None:
    """A suite that reads tuned values must report other seeds than they were tuned on, and the other half of the
    test split (``test-half = "report"``) than the validation half they were scored on: else the tuning saw what
    the page reports. Raises ConfigError naming what overlaps."""
    overlap = sorted(set(tuned_header(tuned_text_)["seeds"]) & set(seeds))
    if overlap:
        raise ConfigError(f"{where}: seeds {overlap} are the tuned file's tuning seeds; report other seeds")
    for name, config in scenarios.items():
        if config.get("test-half") != "report":
            raise ConfigError(f"{where}: scenario {name!r}: test-half = {config.get('test-half')!r}: a suite that "
                              "reads tuned values must set test-half = \"report\" (they were chosen on the other half)")


def tuned_methods(tuned: Mapping[str, Any], group: str, where: str) -> str:
    """``tuned-methods`` for a scenario of request kind ``group`` from a tuned file's tables."""
    methods = tuned.get(group, {})
    if not isinstance(methods, dict) or not all(isinstance(v, dict) for v in methods.values()):
        raise ConfigError(f"{where}: [{group}] must hold one [{group}.<method>] table per method")
    return ",".join(_entry(method, overrides) for method, overrides in methods.items() if overrides)


def page_lines(selection: Mapping[str, Mapping[str, Mapping[str, Any]]], path: str) -> list[str]:
    """The tuning page's section on what was chosen."""
    rows = []
    for group, methods in selection.items():
        for method, choice in methods.items():
            chosen = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in choice["overrides"].items()) or "defaults kept"
            gap = "-" if choice["avg_gap"] is None else f"{choice['avg_gap']:.3f}"
            edge = ", ".join(f"`{k}`" for k in choice.get("at_edge", [])) or "-"
            rows.append(f"| {group} | {method} | {chosen} | {gap} | {choice['diverged']}/{choice['points']} | {edge} |")
    return ["## Chosen values", "", f"Rule: {RULE}. Written to `{path}`, which the suites read (their `tuned` field). "
            "*At the grid's edge*: a key whose chosen value is the smallest or largest of three or more tried, where "
            "a wider grid might do better.",
            "", "| request kind | method | chosen | avg_gap (validation) | grid points that diverged | at the grid's edge |",
            "|---|---|---|---|---|---|", *rows, ""]
