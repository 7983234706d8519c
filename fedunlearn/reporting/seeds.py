"""From seeds to a report: each seed's models and gaps, their means and intervals over seeds, the sanity gates
(diverged seeds, scenarios that did not learn), the noise floor and the verdicts. Pure functions of the seeds'
numbers; report.py renders what they compute."""

from __future__ import annotations

from typing import Any, Mapping

from fedunlearn.evaluation.evaluator import (
    AVG_GAP_PRIVACY,
    GAP_KEYS,
    MIA_SIGNAL_AUC,
    VERDICT_KEYS,
    average_gap,
    avg_gap_keys,
    gaps,
    original_leaks,
    speedups,
)
from fedunlearn.evaluation.stats import metric_verdict, overall_verdict, summary
from fedunlearn.runtime.phase import Cost

REFERENCE = "retrain"
SECOND_REFERENCE = "retrain-2"  # with noise-floor = true: another retraining, to see how far two differ
BASE_MODELS = ("original", REFERENCE, SECOND_REFERENCE)
# The equivalence margin of a metric, where a second reference measured the noise floor: the upper end of the 95%
# interval of |retrain-2 - retrain| over seeds, never below MIN_MARGIN (one point of accuracy: a smaller
# difference is not one a reader would act on, and a floor of 0 on every seed would demand exact equality).
MIN_MARGIN = 0.01
PER_SEED_ONLY = ("history", "details")  # not averaged: the first seed's history, every seed's details


def seed_report(scored: Mapping[str, tuple[dict, Cost]]) -> dict[str, Any]:
    """{model: metrics, cost, gap, avg_gap (and speedup for methods)} for one seed; ``retrain`` is required.

    The reference's own gaps are zero by construction; the original's show what unlearning must undo.
    """
    reference_cost = scored[REFERENCE][1]
    models: dict[str, Any] = {}
    for name, (metrics, cost) in scored.items():
        entry: dict[str, Any] = {"metrics": metrics, "cost": cost.to_dict()}
        if name not in BASE_MODELS:
            entry["speedup"] = speedups(cost, reference_cost)
        models[name] = entry
    return with_gaps(models)


def with_gaps(models: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One seed's models with ``gap`` (to the reference) and ``avg_gap`` computed from their metrics, Avg Gap's terms
    chosen by the original model's leakage (``avg_gap_keys``); combine() applies it to stored seeds too, so every
    page follows the current definitions."""
    reference = models[REFERENCE]["metrics"]
    keys = avg_gap_keys(models.get("original", {}).get("metrics"))
    out = {}
    for name, entry in models.items():
        gap = gaps(entry["metrics"], reference)
        out[name] = {**entry, "gap": gap, "avg_gap": average_gap(gap, keys)}
    return out


def mean_tree(values: list) -> Any:
    """Element-wise mean of same-shaped nested dicts/lists of numbers (None entries are skipped; a key that
    only some dicts have, such as a metric added after older results were stored, is the mean of those)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    first = values[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for v in values for k in v))
        return {k: mean_tree([v.get(k) for v in values]) for k in keys}
    if isinstance(first, list):
        return [mean_tree([v[i] for v in values]) for i in range(len(first))]
    numbers = [v for v in values if v is not None]
    return float(sum(numbers) / len(numbers)) if numbers else None


UNIT = (0.0, 1.0)
# Metrics besides GAP_KEYS that are shares, similarities or divergences bounded by 1 (per-class accuracies, each
# sequential request's forget accuracy, the share of forgotten samples predicted as each class, SalUn's attack per
# feature, CKA, Jensen-Shannon: at most ln 2).
SHARES = ("mia_efficacy_by_feature", "per_class_acc", "forget_acc_by_class", "forget_predicted_as", "cka_to_reference",
          "robust_kl_to_reference.js_")


def bounds_of(key: str) -> tuple[float, float] | None:
    """The range a flattened report number can take (its interval is truncated to it), or None."""
    head, _, name = key.partition(".")
    if key == "avg_gap" or head == "metrics" and (name in GAP_KEYS or name.startswith(SHARES)):
        return UNIT
    if head == "gap" and name in GAP_KEYS:
        return (-1.0, 1.0)
    if head in ("cost", "one_off_cost", "speedup", "attack_references") or head == "metrics" and name.startswith(
            ("kl_to_reference", "robust_kl_to_reference", "nonfinite_outputs")):
        return (0.0, float("inf"))
    return None


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts/lists into {"a.b.0": value}."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


# Sanity gates. A model *diverged* on a seed when its outputs are not finite or its accuracy on retained test
# samples is at most DIVERGED_FACTOR x chance (1 / classes): that seed measures a collapse, not the method, so it
# is counted ("diverged k/n") and kept out of the means, intervals and verdicts. A scenario whose original model
# or reference diverged on every seed did not learn: it reports that and no verdicts.
DIVERGED_FACTOR = 2.0


def retained_accuracy(metrics: Mapping[str, Any]) -> float | None:
    """Accuracy on retained test samples: of the retained classes under a class request, else of the test set."""
    value = metrics.get("test_retain_acc")
    return metrics.get("test_acc") if value is None else value


def diverged(metrics: Mapping[str, Any], num_classes: int | None) -> bool:
    """Whether one seed's model collapsed (see DIVERGED_FACTOR); non-finite outputs are what the evaluator counted
    in ``nonfinite_outputs``."""
    if (metrics.get("nonfinite_outputs") or 0) > 0:
        return True
    accuracy = retained_accuracy(metrics)
    return bool(num_classes) and accuracy is not None and accuracy <= DIVERGED_FACTOR / num_classes


def floor_line(report: Mapping[str, Any]) -> str | None:
    """The noise floor and the margins it sets, one sentence (None without a second reference)."""
    floor = report.get("noise_floor") or {}
    if not floor:
        return None
    return ("Noise floor (`retrain-2`, a second retraining, against `retrain`: mean |gap| over seeds) and the "
            "equivalence margin it sets (the upper end of its 95% interval, at least "
            f"{MIN_MARGIN}): " + ", ".join(f"{k} {f['mean']:.3f} (margin {f['margin']:.3f})" for k, f in floor.items())
            + ".")


def privacy_term_line(report: Mapping[str, Any]) -> str | None:
    """Which seeds' Avg Gap has the privacy term (None for a report without an original model or a per-example
    attack)."""
    seeds = [str(s) for s in report["seeds"]]
    originals = [report["per_seed"][s].get("original", {}).get("metrics", {}) for s in seeds]
    if not any(m.get(AVG_GAP_PRIVACY) is not None for m in originals):
        return None
    leaky = [s for s, m in zip(seeds, originals) if original_leaks(m)]
    values = ", ".join(f"{m[AVG_GAP_PRIVACY]:.2f}" for m in originals if m.get(AVG_GAP_PRIVACY) is not None)
    if not leaky:
        return (f"Avg Gap has no privacy term here: the original model does not leak membership of the forgotten "
                f"samples (its `{AVG_GAP_PRIVACY}` below {MIA_SIGNAL_AUC} on every seed: {values}), so there was none "
                "to forget; `avg_gap` is the mean over the three accuracies.")
    return (f"Avg Gap's privacy term (`{AVG_GAP_PRIVACY}`) is in on {len(leaky)}/{len(seeds)} seeds (seed "
            f"{', '.join(leaky)}), those where the original leaks (its `{AVG_GAP_PRIVACY}` per seed: {values}).")


# A method whose mean accuracy on retained test samples is more than this below the reference's has lost utility
# that retraining keeps: the page lists it, with why where the suite file explains it (``explained``).
SHORTFALL = 0.05


def shortfalls(report: Mapping[str, Any]) -> dict[str, float]:
    """The methods (not the original or the references) whose mean accuracy on retained test samples (over the
    seeds on which they did not diverge) is more than SHORTFALL below the reference's: name -> that difference."""
    if REFERENCE not in report["models"]:
        return {}
    reference = retained_accuracy(report["models"][REFERENCE].get("metrics") or {})
    out = {}
    for name, entry in report["models"].items():
        value = retained_accuracy(entry.get("metrics") or {})
        if name in BASE_MODELS or value is None or reference is None or len(entry.get("diverged", [])) == len(
                report["seeds"]):
            continue
        if value - reference < -SHORTFALL - 1e-12:  # exactly SHORTFALL below is not more
            out[name] = value - reference
    return out


def shortfall_line(report: Mapping[str, Any], explained: Mapping[str, str] | None) -> str | None:
    """One sentence naming each method more than SHORTFALL below the reference on retained test samples, and why
    (``explained``: method -> reason, from a suite file) or that nothing explains it (a single run, with None,
    just names them); None when there is none."""
    found = shortfalls(report)
    if not found:
        return None
    key = "test_retain_acc" if report["models"][REFERENCE]["metrics"].get("test_retain_acc") is not None else "test_acc"
    parts = [f"`{name}` {gap:+.3f}" + ("" if explained is None else f": {explained.get(name) or 'not explained'}")
             for name, gap in found.items()]
    return (f"More than {SHORTFALL} below the reference's `{key}` (mean over the seeds that did not diverge): "
            + "; ".join(parts) + ".")


def sanity_lines(report: Mapping[str, Any]) -> list[str]:
    """What a page says under a scenario's table besides the notes: the noise floor and its margins, and what the
    sanity gates found; one sentence each (empty when there is neither)."""
    num_classes = report.get("data", {}).get("num_classes")
    bound = f"{DIVERGED_FACTOR / num_classes:.2f}" if num_classes else f"{DIVERGED_FACTOR:g} x chance"
    lines = [line] if (line := floor_line(report)) else []
    if (line := privacy_term_line(report)) is not None:
        lines.append(line)
    if not report.get("not_learned") and (line := shortfall_line(report, report.get("explained"))):
        lines.append(line)
    if report.get("not_learned"):
        lines.append(f"**No verdicts:** {' and '.join(report['not_learned'])} did not learn (accuracy on retained "
                     f"test samples at most {bound}, {DIVERGED_FACTOR:g} x chance, on every seed).")
    collapsed = {name: e.get("diverged") for name, e in report["models"].items() if e.get("diverged")}
    if collapsed:
        seeds = len(report["seeds"])
        lines.append("Diverged seeds (outputs not finite, or accuracy on retained test samples at most "
                     f"{bound}), kept out of the means, intervals and verdicts: "
                     + ", ".join(f"{name} {len(s)}/{seeds} (seed {', '.join(map(str, s))})"
                                 for name, s in collapsed.items()) + ".")
    return lines


def noise_floor(per_seed: Mapping[int, Mapping[str, Any]], seeds: list) -> dict[str, dict[str, float]]:
    """Per verdict metric, how far the second reference is from the first over ``seeds``: the mean |gap|, and the
    equivalence margin it sets (see MIN_MARGIN). Empty without a second reference."""
    if not seeds or SECOND_REFERENCE not in per_seed[seeds[0]]:
        return {}
    out = {}
    for key in VERDICT_KEYS:
        gaps = [per_seed[s][SECOND_REFERENCE]["gap"].get(key) for s in seeds]
        if any(g is None for g in gaps):
            continue
        stats = summary([abs(g) for g in gaps], (0.0, 1.0))
        upper = stats["ci95"][1] if stats.get("ci95") else stats["mean"]
        out[key] = {"mean": stats["mean"], "margin": max(upper, MIN_MARGIN)}
    return out


def combine(
    config: Mapping[str, Any],
    request: Mapping[str, Any],
    per_seed: Mapping[int, Mapping[str, Any]],
    data: Mapping[str, Any] | None = None,
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The experiment's report from each seed's :func:`seed_report` (seeds in run order).

    ``models[name]`` holds the means over the seeds on which it did not diverge (``metrics``, ``cost``,
    ``gap``, ``avg_gap``, ``speedup``), ``diverged`` (those seeds), ``stats`` (mean, std, 95% interval and n
    of every number, by dotted key) and ``verdict`` (per metric and overall, against ``verdict-tolerance``).
    ``not_learned`` names the base models (original, reference) that diverged on every seed: then no model
    gets a verdict. With a second reference (``noise-floor``), ``noise_floor`` holds each verdict metric's
    retrain-vs-retrain distance and the margin it sets, which replaces ``verdict-tolerance`` for that metric.
    """
    seeds = list(per_seed)
    per_seed = {s: with_gaps(per_seed[s]) for s in seeds}
    tolerance = config["verdict-tolerance"]
    num_classes = (data or {}).get("num_classes")
    collapsed = {name: [s for s in seeds if diverged(per_seed[s][name]["metrics"], num_classes)]
                 for name in per_seed[seeds[0]]}
    not_learned = [name for name in BASE_MODELS if len(collapsed.get(name, [])) == len(seeds)]
    unanchored = set(collapsed.get(REFERENCE, []))  # seeds whose reference collapsed: no gap means anything
    floor = noise_floor(per_seed, [s for s in seeds if s not in unanchored])
    margins = {k: f["margin"] for k, f in floor.items()}
    models: dict[str, Any] = {}
    for name in per_seed[seeds[0]]:
        # every seed left out: show them all (the verdict says there is none)
        kept = [s for s in seeds if s not in collapsed[name] and s not in unanchored] or seeds
        entries = [{k: v for k, v in per_seed[s][name].items() if k not in PER_SEED_ONLY} for s in kept]
        entry = mean_tree(entries)
        flat = [_leaves(e) for e in entries]
        entry["stats"] = {k: summary([f[k] for f in flat], bounds_of(k)) for k in flat[0]}
        entry["diverged"] = list(collapsed[name])
        if not_learned or len(collapsed[name]) == len(seeds):
            why = (f"no verdict: {' and '.join(not_learned)} did not learn" if not_learned
                   else "no verdict: diverged on every seed")
            entry["verdict"] = {"metrics": {k: None for k in VERDICT_KEYS}, "overall": why}
        else:
            verdicts = {k: metric_verdict(entry["stats"].get(f"gap.{k}"), margins.get(k, tolerance))
                        for k in VERDICT_KEYS}
            overall = overall_verdict(verdicts, len(kept))
            if collapsed[name]:
                overall = f"diverged {len(collapsed[name])}/{len(seeds)}; " + overall
            entry["verdict"] = {"metrics": verdicts, "overall": overall}
        entry["history"] = per_seed[kept[0]][name].get("history", [])
        if "details" in per_seed[seeds[0]][name]:
            entry["details"] = {str(s): per_seed[s][name].get("details") for s in seeds}
        models[name] = entry
    return {
        "experiment": dict(config), "request": dict(request), "reference": REFERENCE, "seeds": seeds,
        "data": dict(data or {}), "models": models, "not_learned": not_learned, "noise_floor": floor,
        "per_seed": {str(s): dict(per_seed[s]) for s in seeds}, **dict(extras or {}),
    }


COMBINED = ("experiment", "request", "reference", "seeds", "data", "models", "not_learned", "noise_floor", "per_seed")


def recombine(report: Mapping[str, Any]) -> dict[str, Any]:
    """A stored report (report.json) with its models combined again from its seeds' numbers under the current
    definitions (gaps, Avg Gap, intervals, gates, verdicts); what a run stored besides is kept as it is."""
    per_seed = {s: report["per_seed"][str(s)] for s in report["seeds"]}
    extras = {k: v for k, v in report.items() if k not in COMBINED}
    return combine(report["experiment"], report["request"], per_seed, report.get("data"), extras)
