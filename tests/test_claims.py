"""experiments/claims.py: the verdicts of the claims page, on hand-made suite results."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import claims  # noqa: E402
import pytest  # noqa: E402

T9 = 2.2621571627409915  # t(0.975, 9): the hand-made summaries stand for 10 seeds


@pytest.fixture(autouse=True)
def fresh_family():
    """Each test is a page of its own: its tests alone form the family Holm's correction runs over."""
    claims.FAMILY.reset()
    yield
    claims.FAMILY.reset()


def page(lines) -> str:
    return claims.FAMILY.resolve("\n".join(lines))


def _stat(mean, low=None, high=None):
    """A summary over 10 seeds whose 95% interval is [low, high] (no interval: every seed the same)."""
    std = 0.0 if low is None else (high - low) / 2 * 10 ** 0.5 / T9
    return {"mean": mean, "ci95": [low, high] if low is not None else None, "std": std, "n": 10}


def _model(**stats):
    return {"stats": {key.replace("__", "."): value for key, value in stats.items()}}


def _scenario(models, forget_class=0, per_seed=None, seeds=(0, 1, 2)):
    return {"experiment": {"verdict-tolerance": 0.02, "forget-class": forget_class, "num-server-rounds": 10,
                           "local-epochs": 1},
            "models": models, "seeds": list(seeds), "per_seed_values": per_seed or {}}


def test_a_class_method_is_held_when_it_forgets_and_keeps_and_not_held_when_it_loses_utility():
    retrain = _model(metrics__forget_acc=_stat(0.0, 0.0, 0.0), metrics__test_retain_acc=_stat(0.91, 0.90, 0.92))
    good = _model(metrics__forget_acc=_stat(0.01, 0.0, 0.03), metrics__test_retain_acc=_stat(0.90, 0.89, 0.91),
                  gap__test_retain_acc=_stat(-0.01, -0.015, -0.005))
    broken = _model(metrics__forget_acc=_stat(0.0, 0.0, 0.0), metrics__test_retain_acc=_stat(0.5, 0.4, 0.6),
                    gap__test_retain_acc=_stat(-0.41, -0.5, -0.3))
    reports = {"class-dirichlet": _scenario({"retrain": retrain, "lra-npp": good, "wf-net": broken})}
    text = page(claims.five_methods_section(reports))
    lra = next(line for line in text.splitlines() if line.startswith("| `lra-npp`"))
    wf = next(line for line in text.splitlines() if line.startswith("| `wf-net`"))
    assert lra.endswith("| **held** |") and "| held | 0.900 [0.890, 0.910] vs 0.910 [0.900, 0.920] | held |" in lra
    assert wf.endswith("| **not held** |")
    # GENIU's, SalUn's and L2UL's scenarios are absent: each says which scenario it waits for.
    assert "`majority-class`: Not computed yet" in text and "`sample-few`: Not computed yet" in text


def test_salun_is_judged_by_its_avg_gap_against_fine_tuning_paired_by_seed():
    retrain = _model(metrics__forget_acc=_stat(0.0, 0.0, 0.0), metrics__test_retain_acc=_stat(0.91, 0.90, 0.92))
    salun = _model(metrics__forget_acc=_stat(0.0, 0.0, 0.0), gap__test_retain_acc=_stat(0.0, -0.01, 0.01),
                   avg_gap=_stat(0.02))
    finetune = _model(avg_gap=_stat(0.10))
    # avg_gap per seed: SalUn - fine-tuning = -0.08, -0.07, -0.09: mean -0.08, interval entirely below 0.
    per_seed = {"salun": {"0": {"avg_gap": 0.02}, "1": {"avg_gap": 0.03}, "2": {"avg_gap": 0.01}},
                "finetune": {"0": {"avg_gap": 0.10}, "1": {"avg_gap": 0.10}, "2": {"avg_gap": 0.10}}}
    reports = {"class-dirichlet": _scenario({"retrain": retrain, "salun": salun, "finetune": finetune},
                                            per_seed=per_seed)}
    row = next(line for line in page(claims.five_methods_section(reports)).splitlines() if line.startswith("| `salun`"))
    assert "held (-0.080 [" in row and row.endswith("| **held** |")


def test_a_sample_method_forgets_when_its_forget_accuracy_is_the_reference_s_within_tolerance():
    # L2UL drives forget_acc to 0 while the reference still recognises the samples (0.88): it overshoots.
    retrain = _model(metrics__forget_acc=_stat(0.88, 0.85, 0.91), metrics__retain_acc=_stat(0.92, 0.91, 0.93))
    l2ul = _model(metrics__forget_acc=_stat(0.0, 0.0, 0.0), gap__forget_acc=_stat(-0.88, -0.91, -0.85),
                  gap__retain_acc=_stat(-0.05, -0.06, -0.04))
    reports = {"sample-few": _scenario({"retrain": retrain, "l2ul[l2ul-eps=2.0]": l2ul}, forget_class=-1)}
    row = next(line for line in page(claims.five_methods_section(reports)).splitlines()
               if line.startswith("| `l2ul[l2ul-eps=2.0]`"))
    assert "| held |" in row  # the interval of the forget gap (all below 0) is at most the tolerance
    assert "| not held |" in row and row.endswith("| **not held** |")  # retain_acc lost 0.04-0.06


def test_the_anchor_is_met_only_when_the_whole_interval_is_at_least_0_88():
    original = _model(metrics__test_acc=_stat(0.882, 0.870, 0.894))
    per_seed = {"original": {"0": {"test_acc": 0.878}, "1": {"test_acc": 0.884}, "2": {"test_acc": 0.884}}}
    reports = {"class-dirichlet": _scenario({"original": original}, per_seed=per_seed)}
    row = next(line for line in claims.anchor_section(reports, None) if line.startswith("| suite"))
    assert "seeds: 0.878, 0.884, 0.884" in row and row.endswith("| met by the mean |")


def test_stored_avg_gap_follows_the_current_definition_and_an_order_needs_every_pair(tmp_path):
    import json

    folder = tmp_path / "cells" / "suite" / "class-dirichlet"
    folder.mkdir(parents=True)

    def metrics(forget, retain, test, mia, rmia):
        return {"forget_acc": forget, "retain_acc": retain, "test_acc": test, "mia_efficacy": mia, "rmia_auc": rmia}

    def cell(original_rmia):
        # Stored with an older Avg Gap (0.3475, its MIA term SalUn's): the page computes it again from the metrics.
        models = {"original": {"metrics": metrics(0.9, 0.9, 0.9, 0.0, original_rmia), "cost": {"seconds": 1.0}},
                  "retrain": {"metrics": metrics(0.0, 0.96, 0.83, 1.0, 0.5), "cost": {"seconds": 1.0}},
                  "not": {"metrics": metrics(0.3, 0.9, 0.8, 0.0, 0.7), "avg_gap": 0.3475, "cost": {"seconds": 1.0}}}
        return json.dumps({"config": {"seed": 0}, "models": models})

    (folder / "seed-0.json").write_text(cell(original_rmia=0.55))  # the original does not leak: 3 accuracies
    values = claims.per_seed_values(tmp_path / "cells", "suite", "class-dirichlet")
    assert abs(values["not"]["0"]["avg_gap"] - 0.13) < 1e-12  # (0.3 + 0.06 + 0.03) / 3
    (folder / "seed-0.json").write_text(cell(original_rmia=0.8))  # it leaks: rmia_auc's |gap| 0.2 is the 4th term
    values = claims.per_seed_values(tmp_path / "cells", "suite", "class-dirichlet")
    assert abs(values["not"]["0"]["avg_gap"] - 0.59 / 4) < 1e-12
    assert page([claims.order_verdict([("a", "b", "held", ""), ("b", "c", "held", "")])]) == "held"
    assert page([claims.order_verdict([("a", "b", "held", ""), ("b", "c", "inconclusive", "")])]) == "inconclusive"
    assert page([claims.order_verdict([("a", "b", "not held", ""), ("b", "c", "inconclusive", "")])]) == "not held"


def test_the_lower_rate_section_compares_variants_of_one_learning_rate_with_each_other():
    # Avg Gap per seed at lr 0.01: NoT 0.05, 0.06, 0.04 against fine-tuning's 0.10: NoT below, held. The
    # ablation has only NoT and noise, noise's gap per seed 0.20: the pair NoT < noise holds, so the order does.
    # The 0.05 rows (no suffix) are in the scenario too and must not be picked.
    lr = claims.LOWER_RATE
    per_seed = {f"not{lr}": {s: {"avg_gap": g} for s, g in (("0", 0.05), ("1", 0.06), ("2", 0.04))},
                f"finetune{lr}": {s: {"avg_gap": 0.10} for s in ("0", "1", "2")},
                f"noise{lr}": {s: {"avg_gap": 0.20} for s in ("0", "1", "2")},
                "not": {s: {"avg_gap": 0.50} for s in ("0", "1", "2")}}
    models = {f"not{lr}": _model(avg_gap=_stat(0.05, 0.03, 0.07)), f"finetune{lr}": _model(avg_gap=_stat(0.10)),
              f"noise{lr}": _model(avg_gap=_stat(0.20)), "not": _model(avg_gap=_stat(0.5)),
              "finetune": _model(avg_gap=_stat(0.01)), "retrain": _model()}
    text = page(claims.lower_rate_section({"learning-rate": _scenario(models, per_seed=per_seed)}))
    row = next(line for line in text.splitlines() if line.startswith("| learning-rate | 0.050"))
    assert "| -0.050 [" in row and row.endswith("| held |")
    assert f"| not{lr} < noise{lr} | -0.150 [" in text
    assert "Whole order by avg_gap: **held**." in text
    assert "Not computed yet" in "\n".join(claims.lower_rate_section(None))


def test_holms_correction_makes_a_verdict_that_holds_alone_inconclusive_among_many():
    """One bound test with p = 0.02 holds alone (0.02 <= 0.05 / 2, its two one-sided hypotheses) and is inconclusive
    among ten (the smallest of 20 hypotheses must be below 0.05 / 20 = 0.0025); by hand from the t-distribution."""
    from scipy import stats

    n, std = 10, 0.01
    t = stats.t.isf(0.02, n - 1)  # the mean that many standard errors below the bound: p = 0.02 exactly
    summary = {"mean": 0.05 - t * std / n ** 0.5, "std": std, "n": n, "ci95": None}
    assert page([claims.at_most(summary, 0.05)]) == "held"
    claims.FAMILY.reset()
    assert page([claims.at_most(summary, 0.05) for _ in range(10)]).split("\n") == ["inconclusive"] * 10
    claims.FAMILY.reset()
    assert page([claims.at_most({"mean": 0.3, "std": 0.0, "n": 5, "ci95": None}, 0.05)]) == "not held"
    assert claims.at_most({"mean": 0.01, "std": None, "n": 1, "ci95": None}, 0.05) == "held (one seed)"


def test_a_diverged_seed_is_left_out_of_the_paired_comparisons(tmp_path):
    import json

    folder = tmp_path / "cells" / "suite" / "s"
    folder.mkdir(parents=True)
    for seed in (0, 1):
        retrain = {"cost": {"seconds": 1.0}, "metrics": {"forget_acc": 0.0, "retain_acc": 0.9, "test_acc": 0.8}}
        model = {"cost": {"seconds": 1.0}, "metrics": {"forget_acc": 0.3 + seed, "retain_acc": 0.9, "test_acc": 0.8}}
        (folder / f"seed-{seed}.json").write_text(json.dumps({"config": {"seed": seed},
                                                              "models": {"retrain": retrain, "not": model}}))
    (tmp_path / "page.json").write_text(json.dumps({"suite": "suite", "scenarios": {
        "s": {"seeds": [0, 1], "models": {"not": {"diverged": [1]}}}}}))
    values = claims.load_reports(tmp_path / "page.json")["s"]["per_seed_values"]["not"]
    assert set(values) == {"0"} and abs(values["0"]["avg_gap"] - 0.1) < 1e-12  # 0.3 / 3: the forget_acc term


def test_the_margin_is_the_noise_floor_s_where_there_is_one_and_a_bound_is_shown_as_a_count():
    from verdicts import fmt, margin

    retrain = _model(metrics__forget_acc=_stat(0.0), metrics__test_retain_acc=_stat(0.91, 0.90, 0.92))
    # 0.015 below the reference: inside the suite's tolerance (0.02), outside a noise floor's margin of 0.01.
    lra = _model(metrics__forget_acc=_stat(0.0), gap__test_retain_acc=_stat(-0.015, -0.0155, -0.0145))
    report = _scenario({"retrain": retrain, "lra-npp": lra})
    assert margin(report, "test_retain_acc") == 0.02
    held = page(claims.five_methods_section({"class-dirichlet": report}))
    report["noise_floor"] = {"test_retain_acc": {"mean": 0.006, "margin": 0.01}}
    assert margin(report, "test_retain_acc") == 0.01 and margin(report, "forget_acc") == 0.02
    claims.FAMILY.reset()
    not_held = page(claims.five_methods_section({"class-dirichlet": report}))
    row = next(line for line in held.splitlines() if line.startswith("| `lra-npp`"))
    assert row.endswith("| **held** |")
    row = next(line for line in not_held.splitlines() if line.startswith("| `lra-npp`"))
    assert row.endswith("| **not held** |")
    assert fmt({"mean": 0.0, "std": 0.0, "ci95": None, "n": 5, "at_bound": 0.0}) == "0.000 (5/5 seeds at 0)"
    assert fmt({"mean": 0.5, "std": 0.1, "ci95": [0.4, 0.6], "n": 5}) == "0.500 [0.400, 0.600]"


def test_not_at_its_paper_s_budget_is_compared_with_fine_tuning_at_the_equal_budget_paired_by_seed():
    # NoT with 5 rounds: avg_gap 0.01, 0.02, 0.03; fine-tuning with 2: 0.05 each; differences -0.04, -0.03, -0.02.
    per_seed = {claims.PAPER_BUDGET: {"0": {"avg_gap": 0.01}, "1": {"avg_gap": 0.02}, "2": {"avg_gap": 0.03}},
                "finetune": {"0": {"avg_gap": 0.05}, "1": {"avg_gap": 0.05}, "2": {"avg_gap": 0.05}}}
    models = {claims.PAPER_BUDGET: _model(avg_gap=_stat(0.02)), "finetune": _model(avg_gap=_stat(0.05)),
              "not": _model(avg_gap=_stat(0.2))}
    reports = {"sample": _scenario(models, forget_class=-1, per_seed=per_seed)}
    rows = claims.budget_comparison(reports, ("class-dirichlet", "sample"))
    assert len(rows) == 1 and rows[0][0] == "sample" and rows[0][3].startswith("-0.030 [")
    assert page([rows[0][4]]) == "held"  # t = -0.03 / (0.01 / sqrt 3) = -5.2 on 2 degrees of freedom: p 0.018
    assert claims.budget_comparison({"sample": _scenario({"finetune": models["finetune"]})}, ("sample",)) == []
