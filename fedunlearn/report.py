"""The report: ``report.json`` (everything), ``report.md`` (tables), ``plots/`` and a terminal table.

:func:`build_report` is pure: scored models in, the report dictionary out. Every method is compared
with the reference (``retrain``): gap per accuracy, Avg Gap and speedup.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from rich.console import Console
from rich.table import Table

from .cost import Cost
from .evaluator import ACCURACY_KEYS, average_gap, gaps, speedups

REFERENCE = "retrain"
BASE_MODELS = ("original", REFERENCE)


def build_report(
    config: Mapping[str, Any],
    request: Mapping[str, Any],
    scored: Mapping[str, tuple[dict, Cost]],
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report from {model name: (metrics, cost)}; ``retrain`` must be among them."""
    reference_metrics, reference_cost = scored[REFERENCE]
    models: dict[str, Any] = {}
    for name, (metrics, cost) in scored.items():
        entry: dict[str, Any] = {"metrics": metrics, "cost": cost.to_dict()}
        if name not in BASE_MODELS:
            gap = gaps(metrics, reference_metrics)
            entry.update(gap=gap, avg_gap=average_gap(gap), speedup=speedups(cost, reference_cost))
        models[name] = entry
    return {"experiment": dict(config), "request": dict(request), "reference": REFERENCE,
            "data": dict(data or {}), "models": models}


def new_run_dir(config: Mapping[str, Any], runs_root: str | Path = "runs") -> Path:
    """The run directory's path: ``out-dir`` if set, else ``runs/<name>-<timestamp>`` (not created)."""
    if config["out-dir"]:
        return Path(config["out-dir"]).expanduser().resolve()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(runs_root).resolve()
    path, n = root / f"{config['name']}-{stamp}", 1
    while path.exists():
        n += 1
        path = root / f"{config['name']}-{stamp}-{n}"
    return path


def write_report(report: Mapping[str, Any], out_dir: Path) -> Path:
    """Write report.json, report.md and the plots into ``out_dir``; point ``runs/latest`` at it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plots = {}
    from .plots import plot_per_class

    plots["Per-class test accuracy"] = plot_per_class(report, out_dir / "plots" / "per_class.png")
    (out_dir / "report.md").write_text(markdown(report, {k: v.relative_to(out_dir) for k, v in plots.items()}),
                                       encoding="utf-8")
    if not report["experiment"]["out-dir"]:
        _point_latest(out_dir)
    return out_dir


def _point_latest(out_dir: Path) -> None:
    latest = out_dir.parent / "latest"
    tmp = out_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out_dir.name)
    os.replace(tmp, latest)


def _fmt(value: Any, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return str(value)


def table_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table: one row per model, accuracies with gaps, cost, speedup."""
    header = ["model", *ACCURACY_KEYS, "avg_gap", "client_rounds", "seconds", "speedup (client rounds)"]
    rows = []
    for name, entry in report["models"].items():
        row = [name]
        for key in ACCURACY_KEYS:
            cell = _fmt(entry["metrics"][key])
            if "gap" in entry and entry["gap"][key] is not None:
                cell += f" ({_fmt(entry['gap'][key], signed=True)})"
            row.append(cell)
        speed = entry.get("speedup", {}).get("client_rounds")
        row += [_fmt(entry.get("avg_gap")), str(entry["cost"]["client_rounds"]),
                _fmt(entry["cost"]["seconds"], 1), "-" if speed is None else f"{speed:.1f}x"]
        rows.append(row)
    return header, rows


def markdown(report: Mapping[str, Any], plots: Mapping[str, Path]) -> str:
    config, request = report["experiment"], report["request"]
    header, rows = table_rows(report)
    lines = [
        f"# fedunlearn report: {config['name']}",
        "",
        f"Request: {', '.join(f'{k} = {v}' for k, v in request.items())}. "
        f"Data set `{config['dataset']}`, model `{config['model']}`, {config['num-clients']} clients, "
        f"partitioner `{config['partitioner']}`, seed {config['seed']}.",
        "",
        "Accuracies in [0, 1]; in brackets the gap to the reference (`retrain`, FedAvg from scratch on the "
        "retained data). `avg_gap` = mean |gap| over forget_acc, retain_acc, test_acc. Speedup = reference "
        "client trainings / method client trainings.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "## Cost",
        "",
        "| model | rounds | client_rounds | bytes_down | bytes_up | seconds |",
        "|---|---|---|---|---|---|",
        *(f"| {name} | {c['rounds']} | {c['client_rounds']} | {c['bytes_down']} | {c['bytes_up']} | {c['seconds']:.2f} |"
          for name, c in ((n, e["cost"]) for n, e in report["models"].items())),
        "",
        "## Plots",
        "",
        *(f"![{title}]({path})" for title, path in plots.items()),
        "",
        "## Configuration",
        "",
        "```toml",
        *(f"{k} = {json.dumps(v)}" for k, v in config.items()),
        "```",
        "",
    ]
    return "\n".join(lines)


def print_table(report: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 160)
    header, rows = table_rows(report)
    table = Table(title=f"{report['experiment']['name']}: gaps to the reference in brackets", header_style="bold")
    for h in header:
        table.add_column(h, justify="left" if h == "model" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
