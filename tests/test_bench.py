"""`fedunlearn bench`: suite validation, the matrix run through Ray, the page, and reruns that skip."""

import json
from pathlib import Path

import pytest

from fedunlearn.cli import main

SUITE = """
name = "tiny"
page = "tiny-page"
seeds = [0, 1]

[common]
dataset = "digits"
model = "mlp"
num-clients = 3
partitioner = "iid"
num-server-rounds = 3
local-epochs = 1
unlearn-rounds = 1
cache-dir = "{cache}"
round-deadline-floor = 30.0

[scenario.class]
title = "Class deletion"
forget-class = 3
unlearn-methods = "finetune,not"

[scenario.client]
title = "Client deletion"
forget-class = -1
forget-client = 1
unlearn-methods = "finetune"
"""


def _suite(tmp_path: Path, text: str = SUITE) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text.format(cache=tmp_path / "cache"))
    return path


def test_a_bad_scenario_is_refused_before_anything_runs(tmp_path, capsys):
    bad = _suite(tmp_path, SUITE.replace('unlearn-methods = "finetune"\n', 'unlearn-methods = "fucrt"\n'))
    assert main(["bench", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "scenario 'client'" in err and "does not support client requests" in err
    assert not (tmp_path / "out").exists()
    seeds = _suite(tmp_path, SUITE.replace("seeds = [0, 1]", "seeds = [0, 0]"))
    assert main(["bench", str(seeds), "--out", str(tmp_path / "out")]) == 2
    assert "must be a list of distinct seeds" in capsys.readouterr().err
    escape = _suite(tmp_path, SUITE.replace("[scenario.client]", '[scenario."../../escaped"]'))
    assert main(["bench", str(escape), "--out", str(tmp_path / "out")]) == 2
    assert "scenario '../../escaped': must be a table named with a name of letters" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "escaped").exists()
    page = _suite(tmp_path, SUITE.replace('page = "tiny-page"', 'page = "../up"'))
    assert main(["bench", str(page), "--out", str(tmp_path / "out")]) == 2
    assert "page = '../up': must be a name of letters" in capsys.readouterr().err
    why = _suite(tmp_path, SUITE.replace("[scenario.client]", '[scenario.class.explained]\nnto = "typo"\n\n[scenario.client]'))
    assert main(["bench", str(why), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "scenario 'class': explained names nto, not among its methods (finetune, not)" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_the_matrix_runs_writes_one_page_and_a_rerun_skips_computed_cells(tmp_path, capsys):
    suite, out = _suite(tmp_path), tmp_path / "out"
    assert main(["bench", str(suite), "--out", str(out)]) == 0
    page = (out / "tiny-page.md").read_text()
    results = json.loads((out / "tiny-page.json").read_text())
    assert "## Class deletion (`class`)" in page and "## Client deletion (`client`)" in page
    assert (out / "plots" / "tiny-page" / "avg_gap_and_speedup.png").stat().st_size > 1000
    cell_seconds = [json.loads((out / "cells" / "tiny" / s / f"seed-{i}.json").read_text())["seconds"]
                    for s in ("class", "client") for i in (0, 1)]
    assert all(t > 0 for t in cell_seconds)
    assert f"Computing the 4 cells took {sum(cell_seconds) / 60:.1f} min in all" in page
    assert f": `class` {sum(cell_seconds[:2]) / 60:.1f}, `client` {sum(cell_seconds[2:]) / 60:.1f}." in page
    class_report = results["scenarios"]["class"]
    assert set(class_report["models"]) == {"original", "retrain", "finetune", "not"}
    assert class_report["seeds"] == [0, 1] and class_report["models"]["not"]["stats"]["metrics.forget_acc"]["n"] == 2
    assert results["scenarios"]["client"]["request"] == {"kind": "client", "forget_client": 1}
    assert results["scenarios"]["client"]["models"]["retrain"]["cost"]["client_rounds"] == 6  # 3 rounds x 2 clients
    assert sorted(p.name for p in (out / "cells" / "tiny" / "class").iterdir()) == ["seed-0.json", "seed-1.json"]

    capsys.readouterr()
    assert main(["bench", str(suite), "--out", str(out)]) == 0  # nothing to compute: no Ray start
    assert "4 cells, 4 already computed" in capsys.readouterr().err
    again = json.loads((out / "tiny-page.json").read_text())
    assert again["scenarios"]["class"]["models"]["not"]["metrics"] == class_report["models"]["not"]["metrics"]

    changed = _suite(tmp_path, SUITE.replace('unlearn-methods = "finetune"\n', 'unlearn-methods = "finetune,not"\n'))
    capsys.readouterr()
    assert main(["bench", str(changed), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "4 cells, 2 already computed" in err and "cell 3/4: client, seed 0" in err
    assert "retrain: reused from the cache" in err  # the client scenario's references were trained before
    assert "not" in json.loads((out / "tiny-page.json").read_text())["scenarios"]["client"]["models"]

    # --page-only computes nothing: the page of the stored cells, naming the missing ones.
    (out / "cells" / "tiny" / "client" / "seed-1.json").unlink()
    (out / "cells" / "tiny" / "class" / "seed-0.json").unlink()
    (out / "cells" / "tiny" / "class" / "seed-1.json").unlink()
    capsys.readouterr()
    assert main(["bench", str(changed), "--out", str(out), "--page-only"]) == 0
    assert "cell 1/" not in capsys.readouterr().err
    partial = (out / "tiny-page.md").read_text()
    assert "**Partial page: 1 of the suite's 4 cells are computed.** Missing: class, seed 0; class, seed 1; " \
           "client, seed 1." in partial
    assert "## Class deletion (`class`)\n\nNot computed yet." in partial
    assert json.loads((out / "tiny-page.json").read_text())["scenarios"]["client"]["seeds"] == [0]
    (out / "cells" / "tiny" / "client" / "seed-0.json").unlink()
    assert main(["bench", str(changed), "--out", str(out), "--page-only"]) == 2
    assert "no cell is stored under" in capsys.readouterr().err


def test_a_stored_cell_counts_keys_added_later_at_their_default(tmp_path):
    from fedunlearn.config import validate
    from fedunlearn.reporting.bench import Cell, Scenario

    config = validate({"unlearn-methods": "finetune"})
    cell = Cell(Scenario("s", "S", config), 0, tmp_path / "seed-0.json")
    older = {k: v for k, v in cell.config.items() if k != "mia-samples"}  # stored before mia-samples existed
    cell.path.write_text(json.dumps({"config": older}))
    assert cell.done()
    cell.path.write_text(json.dumps({"config": {**older, "local-epochs": 9}}))
    assert not cell.done()
    changed = Cell(Scenario("s", "S", {**config, "mia-samples": 100}), 0, tmp_path / "seed-0.json")
    changed.path.write_text(json.dumps({"config": older}))
    assert not changed.done()  # a new key set away from its default: a different cell


def test_keys_of_methods_a_cell_does_not_run_do_not_determine_it(tmp_path):
    """A method's keys (added, changed or removed since) leave a cell that does not run that method standing; the
    NoT family shares not-*, and head tilt reads tilt-*."""
    from fedunlearn.config import unread_method_keys, validate
    from fedunlearn.reporting.bench import Cell, Scenario

    assert unread_method_keys({"ga-radius", "not-layers", "tilt-beta", "fucrt-temperature", "seed"},
                              ["noise", "fucrt"]) == {"ga-radius", "tilt-beta"}
    config = validate({"unlearn-methods": "finetune,fucrt"})
    cell = Cell(Scenario("s", "S", config), 0, tmp_path / "seed-0.json")
    for stored in ({**cell.config, "ga-stop-acc": 0.4}, {**cell.config, "geniu-generator-steps": 3}):
        cell.path.write_text(json.dumps({"config": stored}))
        assert cell.done()  # a removed key, a changed key: of methods the cell does not run
    cell.path.write_text(json.dumps({"config": {**cell.config, "fucrt-temperature": 0.1}}))
    assert not cell.done()  # FUCRT runs here: its key determines the cell


def test_a_stored_cell_stands_when_only_keys_that_cannot_change_its_numbers_differ(tmp_path):
    """The rule of fedunlearn/reporting/bench.py: the experiment's name (a renamed suite), where the run writes and
    the verdict's tolerance never matter;
    the retry and deadline keys matter only for a cell in which a client failed or was asked again."""
    from fedunlearn.config import validate
    from fedunlearn.reporting.bench import Cell, Scenario

    config = validate({"unlearn-methods": "finetune"})
    cell = Cell(Scenario("s", "S", config), 0, tmp_path / "seed-0.json")
    quiet = {"rounds": 2, "client_rounds": 20, "failures": 0, "retries": 0}
    stored = {**cell.config, "round-retries": 1, "round-deadline-factor": 3.0, "round-deadline-floor": 2.0,
              "out-dir": "elsewhere", "cache-dir": "", "verdict-tolerance": 0.05, "name": "old-suite-s"}
    models = {"original": {"cost": quiet}, "finetune": {"cost": quiet, "one_off_cost": quiet}}
    cell.path.write_text(json.dumps({"config": stored, "models": models}))
    assert cell.done()
    for model, field in (("original", "cost"), ("finetune", "one_off_cost")):
        troubled = {**models, model: {**models[model], field: {**quiet, "retries": 1}}}
        cell.path.write_text(json.dumps({"config": stored, "models": troubled}))
        assert not cell.done()  # a retried answer: the retry keys shaped this cell's numbers
        cell.path.write_text(json.dumps({"config": cell.config, "models": troubled}))
        assert cell.done()  # ... and the same keys as the suite's: it stands
    failed = {**models, "original": {"cost": {**quiet, "failures": 2}}}
    cell.path.write_text(json.dumps({"config": {**cell.config, "min-clients": 3}, "models": failed}))
    assert not cell.done()
    for key, value in (("learning-rate", 0.5), ("fault-rate", 0.1), ("mia-samples", 10), ("client-cpus", 2.0)):
        cell.path.write_text(json.dumps({"config": {**cell.config, key: value}, "models": models}))
        assert not cell.done(), key  # every other key determines the numbers


def test_the_timing_line_counts_what_the_cells_trained_and_leaves_out_cached_models():
    """The second reference and the papers'-budget rows are priced at their mean cost times the seeds that trained
    them: a seed whose model came from the cache cost its cell nothing."""
    from fedunlearn.reporting.bench import _timing

    def model(seconds, details=None):
        return {"cost": {"seconds": seconds}, "details": details or {}}

    reports = {"a": {"seeds": [0, 1, 2], "cell_seconds": [60.0, 60.0, 60.0], "cell_evaluation_seconds": [6, 6, 6],
                     "models": {"retrain-2": model(20.0, {"0": {"cache": "reused"}, "1": {"cache": "trained"}}),
                                "not[unlearn-rounds=5]": model(10.0), "not": model(4.0)}},
               "b": {"seeds": [0, 1, 2], "cell_seconds": [30.0, 30.0, 30.0], "cell_evaluation_seconds": [3, 3, 3],
                     "models": {"retrain-2": model(8.0)}}}
    text = _timing(reports)
    assert "Computing the 6 cells took 4.5 min in all" in text and "`a` 3.0, `b` 1.5" in text
    assert "min of it (10%)" in text
    # retrain-2: 20 s on the 2 seeds a trained + 8 s on b's 3 = 64 s; budget rows: 10 s x 3 seeds
    assert "Training the second reference (`retrain-2`) took 1.1 min and the rows at the papers' budgets took 0.5 min." in text
    assert "second reference" not in _timing({"b": {**reports["b"], "models": {"not": model(4.0)}}})
