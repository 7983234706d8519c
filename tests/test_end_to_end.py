"""End-to-end: a real Flower simulation on Ray, through our CLI and through `flwr run`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from fedunlearn.strategies.fedavg import payload_bytes
from flwr.app import ArrayRecord

from fedunlearn.cli import main
from fedunlearn.learning.models import build_model
from fedunlearn.runtime import environment

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("dataset='digits' model='mlp' num-clients=3 partitioner='iid' num-server-rounds=8 local-epochs=1 "
         "forget-class=3 unlearn-methods='finetune' unlearn-rounds=2 "
         "round-deadline-floor=30")  # no late-answer retries on a loaded machine: counts are exact
ACCURACIES = ("forget_acc", "retain_acc", "test_acc", "test_forget_acc", "test_retain_acc")


def _check_report(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.md").is_file()
    for plot in ("per_class", "gap_heatmap", "representation_map", "unlearning_curves"):
        assert (out / "plots" / f"{plot}.png").stat().st_size > 1000, plot
    assert set(report["models"]) == {"original", "retrain", "finetune"}
    assert report["request"] == {"kind": "class", "forget_class": 3}
    assert report["experiment"]["num-clients"] == 3
    for entry in report["models"].values():
        for key in ACCURACIES:
            assert 0.0 <= entry["metrics"][key] <= 1.0
        assert len(entry["metrics"]["per_class_acc"]) == 10
    return report


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_class_deletion_through_a_ray_simulation(tmp_path, capsys):
    out = tmp_path / "run"
    two_seeds = f"{SMALL} seeds='0,1' backdoor-client=1 backdoor-fraction=0.5 backdoor-target=0 device='cpu'"
    assert main(["run", "--run-config", two_seeds, "--out", str(out)]) == 0
    report = _check_report(out)
    models = report["models"]
    assert report["seeds"] == [0, 1] and set(report["per_seed"]) == {"0", "1"}
    assert report["environment"].endswith("; device cpu (" + environment.cpu_model() + ")")  # where torch computed
    assert report["data"]["backdoor_samples"] > 0
    for name, entry in models.items():
        assert 0.0 <= entry["metrics"]["backdoor_asr"] <= 1.0
        forget = entry["stats"]["metrics.forget_acc"]
        assert forget["n"] == 2 and (forget["ci95"] or forget.get("at_bound") is not None)  # an interval, or a count
        mean = sum(report["per_seed"][s][name]["metrics"]["test_acc"] for s in ("0", "1")) / 2
        assert entry["metrics"]["test_acc"] == pytest.approx(mean)
    per_message = payload_bytes(ArrayRecord(build_model("mlp", (1, 8, 8), 10).state_dict()))
    for name, rounds in (("original", 8), ("retrain", 8), ("finetune", 2)):
        cost = models[name]["cost"]
        assert (cost["rounds"], cost["client_rounds"]) == (rounds, 3 * rounds)
        assert cost["bytes_down"] == cost["bytes_up"] == 3 * rounds * per_message
        assert cost["seconds"] > 0
    # The reference never saw class 3; the original did.
    assert models["retrain"]["metrics"]["forget_acc"] <= 0.02
    assert models["retrain"]["metrics"]["test_forget_acc"] <= 0.02
    assert models["original"]["metrics"]["test_acc"] >= 0.8
    fine, ref = models["finetune"], models["retrain"]["metrics"]
    for key in ACCURACIES:
        assert fine["gap"][key] == pytest.approx(fine["metrics"][key] - ref[key])
    assert fine["speedup"]["client_rounds"] == 4.0
    assert fine["gap"]["mia_efficacy"] == pytest.approx(fine["metrics"]["mia_efficacy"] - ref["mia_efficacy"])
    assert set(fine["metrics"]["mia_efficacy_by_feature"]) == {"correctness", "confidence", "entropy", "m_entropy", "prob"}
    assert fine["metrics"]["mia_efficacy"] == fine["metrics"]["mia_efficacy_by_feature"]["confidence"]
    first = report["per_seed"]["0"]
    assert [h["round"] for h in fine["history"]] == [0, 1, 2]  # round 0: the original model, before unlearning
    assert fine["history"][0]["forget_acc"] == pytest.approx(first["original"]["metrics"]["forget_acc"])
    assert fine["history"][-1]["forget_acc"] == pytest.approx(first["finetune"]["metrics"]["forget_acc"])
    # The reference's own gaps are zero and it is judged indistinguishable from itself.
    assert all(v in (0.0, None) for v in models["retrain"]["gap"].values())
    assert models["retrain"]["verdict"]["overall"].startswith("indistinguishable")
    # The original still knows class 3: it must be flagged on the forgetting metrics.
    assert models["original"]["verdict"]["metrics"]["forget_acc"] == "differs"
    assert models["original"]["verdict"]["metrics"]["test_forget_acc"] == "differs"
    for key in ("kl_forget", "kl_test"):
        assert models["retrain"]["metrics"]["kl_to_reference"][key] == pytest.approx(0.0, abs=1e-9)
        assert models["original"]["metrics"]["kl_to_reference"][key] > 0.01
    assert models["retrain"]["metrics"]["cka_to_reference"]["cka_test"] == pytest.approx(1.0)
    for key in ("mia_efficacy", "mia_joint_members", "mia_auc", "neighbour_mia"):
        assert 0.0 <= models["finetune"]["metrics"][key] <= 1.0
    assert "(2 seeds, 95% intervals)" in models["finetune"]["verdict"]["overall"]
    shown = capsys.readouterr()
    assert "finetune" in shown.out and "report:" in shown.out
    assert "original" in shown.err and "done" in shown.err  # progress per phase


def _stop_flower_processes(flwr_home: Path) -> None:
    """Stop the managed SuperLink started for ``flwr_home`` and everything it spawned."""
    roots = [p for p in psutil.process_iter(["cmdline"]) if str(flwr_home) in " ".join(p.info["cmdline"] or [])]
    procs = {p for root in roots for p in [root, *root.children(recursive=True)]}
    for p in procs:
        p.kill()
    psutil.wait_procs(list(procs), timeout=10)


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_the_same_app_runs_with_flwr_run_and_gives_the_same_numbers(tmp_path, small_run):
    flwr_home, out = tmp_path / "flwr-home", tmp_path / "run"
    bin_dir = Path(sys.executable).parent  # flwr starts flower-superlink from PATH
    env = dict(os.environ, FLWR_HOME=str(flwr_home), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1")  # run in this environment, no `uv sync`
    try:
        proc = subprocess.run(
            [str(bin_dir / "flwr"), "run", ".", "--stream", "--run-config", f"{SMALL} out-dir='{out}'",
             "--federation-config", "num-supernodes=3"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=360,
        )
    finally:
        _stop_flower_processes(flwr_home)
    assert (out / "report.json").is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = _check_report(out)
    # The same configuration through `fedunlearn run`: every number of every model, wall seconds aside.
    cli = json.loads((small_run / "run" / "report.json").read_text())
    for name, entry in cli["models"].items():
        expected = {k: v for k, v in _numbers(entry).items() if "seconds" not in k}
        got = {k: v for k, v in _numbers(report["models"][name]).items() if "seconds" not in k}
        assert got.keys() == expected.keys() and got == pytest.approx(expected, abs=1e-9), name


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_client_deletion_with_not_and_gradient_ascent_through_ray(scenario_run):
    out = scenario_run("client")  # SMALL's federation, client 1 deleted with a backdoor; shared with test_unlearning
    report = json.loads((out / "report.json").read_text())
    models = report["models"]
    assert report["request"] == {"kind": "client", "forget_client": 1}
    # FedEraser: rounds 1, 3, 5, 7 of 8 recorded for 3 clients, replayed by the 2 remaining ones; store removed.
    eraser = models["federaser"]
    assert eraser["details"]["0"]["recorded_rounds"] == [1, 3, 5, 7]
    per_update = payload_bytes(ArrayRecord(build_model("mlp", (1, 8, 8), 10).state_dict()))
    assert 4 * 3 * per_update * 0.9 < eraser["details"]["0"]["storage_bytes"] < 4 * 3 * per_update * 1.1
    # Round 1 is applied exactly (no client asked), rounds 3, 5 and 7 are calibrated by the 2 remaining clients.
    assert (eraser["cost"]["rounds"], eraser["cost"]["client_rounds"]) == (3, 6)
    assert eraser["details"]["0"]["first_round"] == "exact"
    assert not (out / "checkpoints").exists()  # the recorded updates lived there until the report was written
    # The deleted client takes no part in the reference or in NoT's fine-tuning: 2 of 3 clients per round.
    assert models["original"]["cost"]["client_rounds"] == 24
    assert models["retrain"]["cost"]["client_rounds"] == 16
    assert models["not"]["cost"]["client_rounds"] == 4 and models["not"]["speedup"]["client_rounds"] == 4.0
    assert models["not"]["details"]["0"]["perturbed_parameters"] == ["body.1.weight", "body.1.bias"]
    assert models["noise"]["details"]["0"]["perturbed_parameters"] == ["body.1.weight", "body.1.bias"]
    ascent = models["gradient-ascent"]
    assert (ascent["cost"]["rounds"], ascent["cost"]["client_rounds"]) == (3, 5)  # the ascent + 2 rounds of 2
    assert ascent["details"]["0"]["ascent_steps"] >= 1 and ascent["details"]["0"]["ball_radius"] > 0
    for entry in models.values():
        assert entry["metrics"]["test_forget_acc"] is None and entry["metrics"]["neighbour_mia"] is None
        assert 0.0 <= entry["metrics"]["backdoor_asr"] <= 1.0
        # The per-example attack scored every model, with one reference federation (rmia-references = 1).
        assert 0.0 <= entry["metrics"]["rmia_auc"] <= 1.0
        assert 0.0 <= entry["metrics"]["rmia_tpr_01pct"] <= entry["metrics"]["rmia_tpr_1pct"] <= 1.0
        assert entry["metrics"]["robust_kl_to_reference"]["js_forget"] <= 0.6932
    attack = models["retrain"]["attack_references"]
    assert attack["models"] == 1 and attack["cost"]["client_rounds"] == models["retrain"]["cost"]["client_rounds"]
    assert "### Per-example attack (RMIA)" in (out / "report.md").read_text()
    assert report["data"]["forget_samples"] == report["data"]["client_samples"][1]


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_two_sequential_class_requests_through_ray(tmp_path):
    out = tmp_path / "sequential"
    overrides = (SMALL.replace("unlearn-methods='finetune' unlearn-rounds=2", "")
                 + " then-forget-classes='5' unlearn-methods='finetune,fucrt,not' unlearn-rounds=2 fucrt-min-samples=3")
    assert main(["run", "--run-config", overrides, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    models = report["models"]
    assert report["request"] == {"kind": "sequential", "forget_classes": [3, 5]}
    from fedunlearn.data.datasets import load_dataset
    labels = load_dataset({"dataset": "digits", "data-path": "", "test-fraction": 0.2, "synthetic-samples": 2000,
                           "synthetic-classes": 10, "synthetic-shape": "1,8,8", "class-imbalance": 1.0}).y_train
    assert report["data"]["forget_samples"] == int(((labels == 3) | (labels == 5)).sum())
    # One reference, retrained without both classes; the original knows both.
    ref, original = models["retrain"]["metrics"], models["original"]["metrics"]
    assert ref["forget_acc"] <= 0.02 and max(ref["forget_acc_by_class"].values()) <= 0.02
    assert min(original["forget_acc_by_class"].values()) >= 0.7
    assert models["retrain"]["cost"]["client_rounds"] == 24
    # Every method serves both requests, 2 rounds each (FUCRT: + a selection round each); costs add up.
    for name, rounds in (("finetune", 4), ("fucrt", 6), ("not", 4)):
        assert (models[name]["cost"]["rounds"], models[name]["cost"]["client_rounds"]) == (rounds, 12), name
        assert models[name]["speedup"]["client_rounds"] == 2.0
        steps = models[name]["details"]["0"]["requests"]
        assert [(s["request"], s["forget_class"]) for s in steps] == [(1, 3), (2, 5)]
    fucrt = models["fucrt"]
    assert [(h["round"], h["request"]) for h in fucrt["history"]] == [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2)]
    first, second = fucrt["details"]["0"]["requests"]
    assert 3 not in first["details"]["transformation_classes"]
    assert not {3, 5} & set(second["details"]["transformation_classes"])  # no class deleted earlier, nor 5 itself
    # FUCRT erases class 3 with request 1 (class 5 still known) and class 5 with request 2, class 3 staying erased.
    assert first["forget_acc_by_class"]["3"] <= 0.05 and first["forget_acc_by_class"]["5"] >= 0.7
    assert max(second["forget_acc_by_class"].values()) <= 0.05
    assert fucrt["metrics"]["forget_acc_by_class"] == second["forget_acc_by_class"]
    text = (out / "report.md").read_text()
    assert "## Sequential requests" in text and "| fucrt | 2 | 0.000 | 0.000 |" in text


def _numbers(tree, prefix=""):
    """Every number of a report's metrics, by path (wall seconds excluded: they are measurements)."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _numbers(sub, f"{prefix}.{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in _numbers(sub, f"{prefix}.{i}").items()}
    return {prefix: tree} if isinstance(tree, (int, float)) and not isinstance(tree, bool) else {}


FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.e2e
@pytest.mark.timeout(400)
@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed "
                                                        "(.ci/run installs it where it can)")
def test_a_short_fashion_mnist_experiment_runs_end_to_end(tmp_path):
    """The real benchmark's data, read from the Debian package's IDX files without configuration: LeNet-5, 3
    clients, 2 rounds (SalUn's attack capped at 1,000 samples a side to keep the test short)."""
    out = tmp_path / "fmnist"
    run_config = ("dataset='fashion_mnist' model='lenet5' num-clients=3 partitioner='iid' num-server-rounds=2 "
                  "local-epochs=1 batch-size=64 forget-class=0 unlearn-methods='finetune' unlearn-rounds=1 "
                  "mia-samples=1000")
    assert main(["run", "--run-config", run_config, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["train_samples"] == 60000 and report["data"]["test_samples"] == 10000
    assert report["data"]["forget_samples"] == 6000  # class 0 (T-shirt/top) has 6,000 training images
    models = report["models"]
    assert models["original"]["metrics"]["test_acc"] > 0.7  # two rounds of LeNet-5 already learn
    assert models["retrain"]["metrics"]["forget_acc"] == 0.0
    assert "mia-samples = 1000" in (out / "report.md").read_text()


@pytest.fixture
def class_methods(scenario_run):
    """The class-deletion run (one Ray simulation) serving every class method, shared with tests/test_unlearning.py."""
    return scenario_run("class")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_fucrt_and_trw_run_two_rounds_through_ray(class_methods):
    report = json.loads((class_methods / "report.json").read_text())
    fucrt = report["models"]["fucrt"]
    details = fucrt["details"]["0"]
    assert details["selection"] == "vote" and 1 <= len(details["transformation_classes"]) <= 9
    assert 3 not in details["transformation_classes"]
    assert set(details["local_sets"]) <= {"0", "1", "2"}
    # One selection round (no client training) + 2 training rounds of 3 clients.
    assert (fucrt["cost"]["rounds"], fucrt["cost"]["client_rounds"]) == (3, 6)
    assert [h["round"] for h in fucrt["history"]] == [0, 1, 2]
    # Relabelling to other classes erases the forgotten class on the training data it was trained on.
    assert fucrt["metrics"]["forget_acc"] <= 0.05
    variant = report["models"]["fucrt[fucrt-selection=\"nearest-centroid\";fucrt-lambda-local=0]"]
    assert variant["details"]["0"]["selection"] == "nearest-centroid"
    tilt, original = report["models"]["head-tilt"], report["models"]["original"]
    assert (tilt["cost"]["rounds"], tilt["cost"]["client_rounds"]) == (2, 6)
    assert tilt["metrics"]["forget_acc"] < original["metrics"]["forget_acc"] - 0.3  # the tilted targets move class 3 away


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_salun_lra_npp_wf_net_and_geniu_unlearn_a_class_through_a_ray_simulation(class_methods):
    out = class_methods
    models = json.loads((out / "report.json").read_text())["models"]
    original = models["original"]
    assert models["salun"]["metrics"]["forget_acc"] < original["metrics"]["forget_acc"] - 0.5
    assert models["salun"]["details"]["0"]["salient_share"] == pytest.approx(0.5, abs=1e-3)
    assert models["salun[salun-ratio=0.2]"]["details"]["0"]["salient_share"] == pytest.approx(0.2, abs=1e-3)
    assert models["salun"]["cost"]["client_rounds"] == 6 and models["salun"]["cost"]["rounds"] == 3  # +1: saliency
    lra = models["lra-npp[lra-npp-neurons-share=0.3125;lra-npp-top-k-share=0.5]"]
    assert lra["cost"]["client_rounds"] == 0 and lra["cost"]["bytes_up"] == 0
    # shares of the width: 64 of 128 per image, so that at least 40 distinct neurons are there to cut
    assert lra["details"]["0"]["top_k"] == 64 and len(lra["details"]["0"]["neurons"]) == 40
    assert lra["metrics"]["forget_acc"] < original["metrics"]["forget_acc"]
    # WF-Net and GENIU pay a one-off cost once, reported apart from the request's (which is 0): WF-Net in a
    # round of its own after training, GENIU's generator beside the classifier in every training round.
    for name in ("wf-net", "geniu[geniu-generator-steps=20]"):
        entry = models[name]
        assert entry["cost"]["client_rounds"] == 0 and entry["cost"]["bytes_down"] == 0
        assert entry["metrics"]["forget_acc"] < original["metrics"]["forget_acc"]
    assert models["wf-net"]["one_off_cost"]["client_rounds"] == 3 and models["wf-net"]["one_off_cost"]["rounds"] == 1
    generator = models["geniu[geniu-generator-steps=20]"]["one_off_cost"]
    assert generator["rounds"] == 0 and generator["client_rounds"] == original["cost"]["client_rounds"]
    assert 0 < generator["bytes_up"] < original["cost"]["bytes_up"]
    # The original's cost is the model's alone: the same as in a run without GENIU (the cache may share it).
    model_bytes = payload_bytes(ArrayRecord(build_model("mlp", (1, 8, 8), 10).state_dict()))
    assert original["cost"]["bytes_up"] == model_bytes * original["cost"]["client_rounds"]
    assert models["wf-net"]["one_off_cost"]["bytes_up"] < original["cost"]["bytes_up"] / 8  # the filters only
    assert "One-off cost of **wf-net**" in (out / "report.md").read_text()


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_l2ul_and_salun_serve_a_sample_request_through_a_ray_simulation(tmp_path):
    out = tmp_path / "samples"
    request = ("forget-class=-1 forget-samples=0.02 forget-samples-client=1 "
               "unlearn-methods='salun,l2ul[l2ul-eps=0.58;l2ul-pgd-steps=10;l2ul-adv-per-sample=4;l2ul-learning-rate=0.02]'")
    assert main(["run", "--run-config", SMALL.replace("forget-class=3 unlearn-methods='finetune'", request),
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    l2ul = report["models"]["l2ul[l2ul-eps=0.58;l2ul-pgd-steps=10;l2ul-adv-per-sample=4;l2ul-learning-rate=0.02]"]
    details = l2ul["details"]["0"]
    assert l2ul["metrics"]["forget_acc"] == 0.0 and details["target_forget_acc"] == 0.0  # its stop rule: 0%
    assert details["adversarial_examples"] == 4 * report["data"]["forget_samples"] and details["client"] == 1
    assert l2ul["cost"]["client_rounds"] == 1 and [h["round"] for h in l2ul["history"]] == [0, 1]
    assert report["models"]["salun"]["cost"]["client_rounds"] == 6


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_second_reference_measures_the_noise_floor_and_shares_the_cache(tmp_path, small_run):
    """noise-floor = true: a second retraining (another initialisation and client sampling) beside the reference,
    which still comes from the cache the first run filled; its gaps are the noise floor, and they set the margins."""
    out, cache = tmp_path / "floor", tmp_path / "cache"
    shutil.copytree(small_run / "cache", cache)  # the first run's models, in a cache of this test's own
    assert main(["run", "--run-config", f"{SMALL} noise-floor=true cache-dir='{cache}'", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    first = json.loads((small_run / "run" / "report.json").read_text())
    models = report["models"]
    assert models["retrain"]["details"]["0"]["cache"] == "reused"  # the first run's reference
    assert models["retrain"]["metrics"] == first["models"]["retrain"]["metrics"]
    # The first run trained replicate 2 as its per-example attack's reference federation: the same model, reused.
    assert models["retrain-2"]["details"]["0"]["cache"] == "reused" and "speedup" not in models["retrain-2"]
    assert models["retrain-2"]["cost"]["client_rounds"] == models["retrain"]["cost"]["client_rounds"]
    assert models["retrain-2"]["gap"] != models["retrain"]["gap"]  # another training: not the same model
    assert set(report["noise_floor"]) >= {"forget_acc", "retain_acc", "test_acc"}
    assert all(f["margin"] >= 0.01 for f in report["noise_floor"].values())
    assert "Noise floor (`retrain-2`" in (out / "report.md").read_text()
