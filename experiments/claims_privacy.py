"""The claims page's privacy section: per-example leakage in the leakage regime, each model's ``rmia_auc`` tested for
equivalence to the reference's (experiments/claims.py writes it with the rest of the page, one Holm family)."""

from __future__ import annotations

from typing import Any, Mapping

from verdicts import all_of, at_least, at_most, fmt, margin, stat

from fedunlearn.reporting.report import md_table

PRIVACY_CLAIMS = {
    "class": ("SalUn: its MIA-efficacy close to retraining's, here by the per-example attack (which measures little "
              "under a class request: docs/evaluator.md). TRW's claim (MIA-NN/CMIA) is not tested: `head-tilt` is "
              "not TRW (see above)", ("salun",)),
    "client-backdoor": ("gradient ascent, FedEraser and NoT (and FUSED-style client deletion in general): the deleted "
                        "client's (backdoored) samples are no more identifiable than under retraining",
                        ("not", "gradient-ascent", "federaser")),
    "sample": ("SalUn and gradient ascent: deleted samples no more identifiable than under retraining",
               ("salun", "gradient-ascent")),
}


def privacy_section(reports: Mapping[str, Any] | None) -> list[str]:
    """Per-example leakage of every model in the leakage regime: ``rmia_auc`` against the reference's, tested as an
    **equivalence** within the noise floor's margin (two one-sided tests, both Holm-corrected with the page)."""
    title = "## Privacy in the leakage regime (RMIA)"
    if not reports:
        return [title, "", "Not computed yet: the suite `experiments/bench/fashion-mnist-leakage.toml` "
                "(`fedunlearn bench experiments/bench/fashion-mnist-leakage.toml --out experiments/results`).", ""]
    lines = [title, "",
             "Claims about privacy, re-tested where the original model measurably leaks membership "
             "([fashion-mnist-leakage.md](fashion-mnist-leakage.md); the setting is chosen in [leakage.md](leakage.md)). "
             "The number is the per-example attack's AUC on the forgotten samples against held-out ones (`rmia_auc`, "
             "docs/evaluator.md); the reference's is the target. **Equivalence**: the gap to the reference lies "
             "within ± the noise floor's margin for `rmia_auc` (two one-sided tests). `rmia_tpr_1pct` is the share of "
             "forgotten samples caught at 1% FPR; `mia_efficacy` is SalUn's number, for comparison.", ""]
    for scenario, report in reports.items():
        models = report["models"]
        bound = margin(report, "rmia_auc")
        rows = []
        claim, tested = PRIVACY_CLAIMS.get(scenario, ("none", ()))
        for name, entry in models.items():
            gap = stat(entry, "gap.rmia_auc")
            if name not in tested or entry.get("verdict", {}).get("overall", "").startswith("no verdict"):
                verdict = "-"
            else:
                verdict = all_of([at_least(gap, -bound), at_most(gap, bound)])
            rows.append([name, fmt(stat(entry, "metrics.rmia_auc")), fmt(gap), verdict,
                         fmt(stat(entry, "metrics.rmia_tpr_1pct")), fmt(stat(entry, "metrics.mia_efficacy"))])
        lines += [f"### `{scenario}`: {report.get('title', scenario)}", "",
                  f"Claims: {claim}. Margin {bound:.3f}; tested: {', '.join(f'`{t}`' for t in tested) or 'none'}.",
                  "",
                  *md_table(["model", "rmia_auc", "gap to the reference", "equivalent to retraining",
                             "rmia_tpr_1pct", "mia_efficacy"], rows), ""]
    return lines
