"""The report: ``report.json`` (everything), ``report.md`` (tables), ``report.html``, ``plots/`` and a terminal
table, rendered from what :mod:`fedunlearn.reporting.seeds` computes over the seeds.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fedunlearn.evaluation.evaluator import (
    ACCURACY_KEYS,
    AVG_GAP_TEXT,
    MIA_SIGNAL_AUC,
    VERDICT_KEYS,
    attack_has_signal,
)
from fedunlearn.evaluation.membership import SALUN_FEATURES
from fedunlearn.evaluation.stats import interval_text
from fedunlearn.reporting.seeds import BASE_MODELS, mean_tree, sanity_lines

TABLE_KEYS = ACCURACY_KEYS + ("mia_efficacy", "rmia_auc", "neighbour_mia", "backdoor_asr")
NO_SIGNAL = "†"  # beside a model's MIA numbers when its attack has no signal (see no_signal_note)
CONFIG_FILE = "config.json"  # a run directory's validated configuration (what --resume reads)


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


REPORT_FILE = "report.json"  # written last, atomically: its presence marks a finished run


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a kill at any moment leaves the old file or the new one whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(report: Mapping[str, Any], out_dir: Path) -> Path:
    """Write the plots, report.md and, last, report.json into ``out_dir``; point ``runs/latest`` at it.

    Every file is written atomically and report.json, the marker of a finished run, comes last: a run
    killed while writing has no report.json, and ``fedunlearn run --resume`` completes it."""
    write_pages(report, out_dir)
    write_atomically(out_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    if not report["experiment"]["out-dir"]:
        _point_latest(out_dir)
    return out_dir


def write_pages(report: Mapping[str, Any], out_dir: Path) -> Path:
    """The plots, report.md and report.html of ``report`` in ``out_dir``: everything but report.json, which they are
    made from
    (``fedunlearn report DIR`` rebuilds them from a finished run's report.json, computing nothing)."""
    from fedunlearn.reporting.plots import write_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out_dir / "plots")
    write_atomically(out_dir / "report.md", markdown(report, {k: v.relative_to(out_dir) for k, v in plots.items()}))
    from fedunlearn.reporting.board import run_board

    write_atomically(out_dir / "report.html", run_board(report))
    return out_dir / "report.md"


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


def mean_text(key: str, mean: float) -> str:
    """A mean as the pages show it: client trainings whole, seconds to a tenth, a speedup as 1.5x, else 3 places."""
    if key == "cost.client_rounds":
        return f"{mean:.0f}"
    if key == "cost.seconds":
        return f"{mean:.1f}"
    if key.startswith("speedup"):
        return f"{mean:.1f}x"
    return f"{mean:.3f}"


def _cell(entry: Mapping[str, Any], key: str) -> str:
    """mean ± CI half-width of a metric, then its gap to the reference in brackets (and the no-signal mark
    on the attack's shares)."""
    value = entry["metrics"].get(key)
    if value is None:
        return "-"
    text = _fmt(value)
    text += interval_text(entry["stats"].get(f"metrics.{key}"))
    gap = entry["gap"].get(key)
    if gap is not None:
        text += f" ({_fmt(gap, signed=True)})"
    if key in ("mia_efficacy", "mia_joint_members") and attack_has_signal(entry["metrics"].get("mia_auc")) is False:
        text += f" {NO_SIGNAL}"
    return text


def no_signal_note(models: Mapping[str, Any]) -> str:
    """The line under a table that marks models whose membership attack has no signal ("" if none)."""
    weak = [f"{name} ({e['metrics']['mia_auc']:.2f})" for name, e in models.items()
            if attack_has_signal(e["metrics"].get("mia_auc")) is False]
    if not weak:
        return ""
    return (f"{NO_SIGNAL} No membership signal: the attack's held-out AUC (`mia_auc`) is below {MIA_SIGNAL_AUC} "
            f"(0.5 = none) on {', '.join(weak)}, so its `mia_efficacy` is close to arbitrary; read the accuracies "
            f"and `neighbour_mia` instead.")


def diverged_note(models: Mapping[str, Any]) -> str:
    """The line under a table that names models whose outputs were not finite ("" if none): a diverged model
    (a training loss of nan) is scored as predicting no class on those samples (``finite_outputs``)."""
    bad = [f"{name} ({e['metrics']['nonfinite_outputs']:g} samples)" for name, e in models.items()
           if (e["metrics"].get("nonfinite_outputs") or 0) > 0]
    if not bad:
        return ""
    return (f"Diverged: non-finite outputs (NaN or infinite) on {', '.join(bad)}, a mean over seeds where there are "
            "several; there the model predicts no class (every accuracy counts it wrong) and its probabilities are "
            "taken as uniform by the attacks and the KL.")


def notes(models: Mapping[str, Any]) -> list[str]:
    """The notes under a table of models, each followed by a blank line."""
    return [line for note in (no_signal_note(models), diverged_note(models)) if note for line in (note, "")]


def table_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table: one row per model."""
    keys = [k for k in TABLE_KEYS if any(e["metrics"].get(k) is not None for e in report["models"].values())]
    header = ["model", *keys, "avg_gap", "client_rounds", "speedup"]
    rows = []
    for name, entry in report["models"].items():
        speed = entry.get("speedup", {}).get("client_rounds")
        rows.append([name, *(_cell(entry, k) for k in keys), _fmt(entry["avg_gap"]),
                     _fmt(entry["cost"]["client_rounds"], 0) if isinstance(entry["cost"]["client_rounds"], float)
                     else str(entry["cost"]["client_rounds"]), "-" if speed is None else f"{speed:.1f}x"])
    return header, rows


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(report: Mapping[str, Any], plots: Mapping[str, Path]) -> str:
    config, request, seeds = report["experiment"], report["request"], report["seeds"]
    models = report["models"]
    header, rows = table_rows(report)
    seeds_text = f"seed {seeds[0]} (single seed: no intervals)" if len(seeds) == 1 else (
        f"seeds {', '.join(map(str, seeds))}: mean ± half-width of the 95% t-interval, [low, high] where it is "
        "truncated to the metric's range, \"n/n seeds at 0\" where every seed sits at a bound")
    lines = [
        f"# fedunlearn report: {config['name']}",
        "",
        f"Request: {', '.join(f'{k} = {v}' for k, v in request.items())}. Data set `{config['dataset']}`, model "
        f"`{config['model']}`, {config['num-clients']} clients, partitioner `{config['partitioner']}`; {seeds_text}.",
        "",
        "Numbers in [0, 1]; in brackets the gap to the reference (`retrain`, FedAvg from scratch on the retained "
        "data): the goal is a gap of 0, not the lowest value. `mia_efficacy`: SalUn's MIA-efficacy, the share of "
        "forgotten samples its confidence attack calls non-members; `rmia_auc`: AUC of the per-example attack (RMIA) "
        "on the forgotten samples against held-out ones (0.5 = cannot tell them apart); `neighbour_mia`: AUC of the "
        f"nearest-neighbour attack (0.5 = no signal); `avg_gap` = {AVG_GAP_TEXT}. Speedup = reference client trainings / method's.",
        "",
        *md_table(header, rows),
        "",
        *notes(models),
        *(line for text in sanity_lines(report) for line in (text, "")),
        f"## Verdict (tolerance {config['verdict-tolerance']})",
        "",
        *(f"- **{name}**: {entry['verdict']['overall']}" for name, entry in models.items()),
        "",
        "| model | " + " | ".join(VERDICT_KEYS) + " |",
        "|---|" + "---|" * len(VERDICT_KEYS),
        *(f"| {name} | " + " | ".join(e["verdict"]["metrics"].get(k) or "-" for k in VERDICT_KEYS) + " |"
          for name, e in models.items()),
        "",
        "## Distance to the reference",
        "",
        "Mean KL(reference || model) in nats, its median over samples and the mean Jensen-Shannon divergence (at most "
        "ln 2 = 0.693 per sample): a few saturated samples (up to 27 nats each) can dominate the mean, not the other "
        "two. CKA: linear CKA of the penultimate-layer features (1 = the same up to rotation and scale).",
        "",
        *md_table(["model", "KL forget", "median KL forget", "JS forget", "KL test", "median KL test", "JS test",
                   "CKA forget", "CKA test"],
                  [[name, _fmt(e["metrics"]["kl_to_reference"]["kl_forget"]), *_robust(e, "forget"),
                    _fmt(e["metrics"]["kl_to_reference"]["kl_test"]), *_robust(e, "test"),
                    _fmt(e["metrics"]["cka_to_reference"]["cka_forget"]),
                    _fmt(e["metrics"]["cka_to_reference"]["cka_test"])] for name, e in models.items()]),
        "",
        *privacy_section(models, config.get("mia-samples", 0)),
        "## Cost (mean over seeds)",
        "",
        "| model | rounds | client_rounds | failures | retries | bytes_down | bytes_up | seconds | speedup (seconds) |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {name} | {c['rounds']:.0f} | {c['client_rounds']:.0f} | {c.get('failures', 0):.0f} | "
          f"{c.get('retries', 0):.0f} | "
          f"{c['bytes_down']:.0f} | {c['bytes_up']:.0f} | {c['seconds']:.2f} | "
          f"{_fmt(e.get('speedup', {}).get('seconds'), 2)} |"
          for name, e, c in ((n, e, e["cost"]) for n, e in models.items())),
        "",
        "`failures`: clients left out of a round (an error, or no answer within `round-timeout`, also after "
        "`round-retries` more asks); the rounds went on with the others. `retries`: requests sent again to "
        "clients that had failed (counted in client_rounds too). " + cache_note(models) + _evaluation_note(report),
        *one_off_lines(models),
        "",
        *_sequential_section(report),
        "## Plots",
        "",
        *(f"![{title}]({path})\n" for title, path in plots.items()),
        "## Configuration",
        "",
        *([f"Measured on: {report['environment']}.", ""] if report.get("environment") else []),
        "```toml",
        *(f"{k} = {json.dumps(v)}" for k, v in config.items()),
        "```",
        "",
    ]
    return "\n".join(lines)


def _robust(entry: Mapping[str, Any], side: str) -> list[str]:
    robust = entry["metrics"].get("robust_kl_to_reference") or {}
    return [_fmt(robust.get(f"median_kl_{side}")), _fmt(robust.get(f"js_{side}"))]


def per_example_lines(models: Mapping[str, Any]) -> list[str]:
    """The per-example attack's table: AUC (gap to the reference) and TPR at 1% and 0.1% FPR of every model, and what
    its reference federations cost ([] where the attack did not run)."""
    if not any(e["metrics"].get("rmia_auc") is not None for e in models.values()):
        return []
    refs = models.get("retrain", {}).get("attack_references") or {}
    cost = refs.get("cost") or {}
    return [
        "### Per-example attack (RMIA)", "",
        "RMIA (Zarifzadeh, Liu and Shokri, ICML 2024), offline: each forgotten sample's likelihood ratio "
        "Pr(x | model) / Pr(x), Pr(x) from reference federations retrained without the forgotten data, compared with "
        "the same ratio on population samples (half of the test set); members are the forgotten samples, non-members "
        "held-out test samples of their classes. `rmia_auc` is the ROC AUC, the TPRs the share of forgotten samples "
        "caught at 1% and 0.1% FPR. The retrained reference's values are the target (it never saw either group); the "
        "original's show what there was to forget. Definitions: docs/evaluator.md.",
        "",
        *md_table(["model", "rmia_auc", "rmia_tpr_1pct", "rmia_tpr_01pct"],
                  [[name, _cell(e, "rmia_auc"), _cell(e, "rmia_tpr_1pct"), _cell(e, "rmia_tpr_01pct")]
                   for name, e in models.items()]),
        "",
        *([f"Its {refs['models']:.0f} reference federation(s) per seed cost {cost.get('client_rounds', 0):.0f} client "
           f"trainings and {cost.get('seconds', 0):.1f} s (mean over seeds; trained once and shared by every model "
           "of the seed, reused from the model cache where trained before), not in the methods' costs.", ""]
          if cost else []),
    ]


def privacy_section(models: Mapping[str, Any], capped: int = 0) -> list[str]:
    """Membership inference in detail: SalUn's MIA-efficacy for each of its five features, the joint
    attack's strength and its share of members."""
    rows = []
    for name, e in models.items():
        by_feature = e["metrics"].get("mia_efficacy_by_feature") or {}
        rows.append([name, *(_fmt(by_feature.get(f)) for f in SALUN_FEATURES), _fmt(e["metrics"].get("mia_auc")),
                     _cell(e, "mia_joint_members")])
    return [
        "## Membership inference",
        "",
        "SalUn's MIA-efficacy with each of its five features (one SVM per feature; `confidence` is the "
        "`mia_efficacy` above and the number papers report): the share of forgotten samples called non-members, "
        "target the reference's value. `mia_auc`: held-out ROC AUC of the joint attack (three features, "
        f"scaled), the strength of the membership signal in the model's outputs (0.5 = none; below {MIA_SIGNAL_AUC} "
        "the shares are close to arbitrary). `mia_joint_members`: the share of forgotten samples that joint "
        "attack calls **members** (the other direction). Definitions: docs/evaluator.md."
        + (f" **mia-samples = {capped}**: each SVM saw at most {capped} members and {capped} non-members, not "
           "SalUn's protocol (all of them)." if capped else ""),
        "",
        *md_table(["model", *(f"efficacy: {f}" for f in SALUN_FEATURES), "mia_auc", "mia_joint_members"], rows),
        "",
        *per_example_lines(models),
    ]


def sequential_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Sequential requests: forget accuracy on each request's class (training samples, mean over seeds) for
    the original, the reference and each method after each request it served. Empty for one request."""
    classes = report["request"].get("forget_classes") or []
    if len(classes) < 2:
        return [], []
    header = ["model", "after request", *(f"class {c} (request {i})" for i, c in enumerate(classes, start=1))]
    rows = []
    for name, entry in report["models"].items():
        if name in BASE_MODELS:
            by_class = entry["metrics"].get("forget_acc_by_class") or {}
            rows.append([name, "-", *(_fmt(by_class.get(str(c))) for c in classes)])
            continue
        per_seed = [d.get("requests") for d in (entry.get("details") or {}).values() if d and d.get("requests")]
        for step in range(len(classes)):
            accs = mean_tree([seed[step]["forget_acc_by_class"] for seed in per_seed]) if per_seed else {}
            rows.append([name, str(step + 1), *(_fmt(accs.get(str(c))) for c in classes)])
    return header, rows


def _sequential_section(report: Mapping[str, Any]) -> list[str]:
    header, rows = sequential_rows(report)
    if not rows:
        return []
    return [
        "## Sequential requests",
        "",
        "Forget accuracy on the training samples of each request's class, mean over seeds: each method serves "
        "the requests in order, each from its own model after the previous request; the main table scores its "
        "model after the last request against the reference retrained without every class. A class forgotten "
        "by an earlier request must stay forgotten after the later ones.",
        "",
        *md_table(header, rows),
        "",
    ]


def one_off_lines(models: Mapping[str, Any]) -> list[str]:
    """Costs paid once, during or right after training, for every later request (WF-Net's filters, GENIU's
    generator): apart from the request's cost, with the original model's cost with and without them."""
    lines = []
    original = models.get("original", {}).get("cost")
    for name, entry in models.items():
        one_off = entry.get("one_off_cost")
        if not one_off or not original:
            continue
        lines += ["", f"One-off cost of **{name}**, paid once after training for every later request and not in the "
                  f"table above: {one_off['rounds']:.0f} rounds, {one_off['client_rounds']:.0f} client trainings, "
                  f"{(one_off['bytes_down'] + one_off['bytes_up']) / 1e6:.1f} MB, {one_off['seconds']:.1f} s. The "
                  f"original model cost {original['client_rounds']:.0f} client trainings and {original['seconds']:.1f} "
                  f"s without it, {original['client_rounds'] + one_off['client_rounds']:.0f} and "
                  f"{original['seconds'] + one_off['seconds']:.1f} s with it."]
    return lines


def _evaluation_note(report: Mapping[str, Any]) -> str:
    seconds = report.get("evaluation_seconds") or {}
    if not seconds:
        return ""
    return (" Scoring every model with the central evaluator took "
            + ", ".join(f"{t:.1f} s (seed {s})" for s, t in seconds.items()) + ".")


def cache_note(models: Mapping[str, Any]) -> str:
    """Which seeds' original and reference models came from the cache (``cache-dir``) instead of being trained."""
    notes = []
    for name in BASE_MODELS:
        details = models.get(name, {}).get("details") or {}
        reused = [seed for seed, d in details.items() if (d or {}).get("cache") == "reused"]
        if reused:
            notes.append(f"The {name} model of seed(s) {', '.join(reused)} was reused from the cache (trained before "
                         f"for everything that determines it; its cost is that of its training): "
                         f"{details[reused[0]]['cache_file']}.")
    return " ".join(notes) or "The original and the reference were trained in this run."


def print_table(report: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 200)
    header, rows = table_rows(report)
    table = Table(title=f"{report['experiment']['name']}: gaps to the reference in brackets", header_style="bold")
    for h in header:
        table.add_column(h, justify="left" if h == "model" else "right")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))  # variant labels hold brackets, not markup
    console.print(table)
    for note in notes(report["models"])[::2]:
        console.print(escape(note.replace("`", "")))
    for name, entry in report["models"].items():
        console.print(f"[bold]{escape(name)}[/]: {escape(entry['verdict']['overall'])}")
