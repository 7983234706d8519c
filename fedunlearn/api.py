"""fedunlearn from Python: run an experiment or a benchmark suite, load a finished run's report.

    import fedunlearn

    report = fedunlearn.run("experiments/default.toml", {"seed": 1, "unlearn-methods": "finetune,fucrt"})
    report["models"]["fucrt"]["metrics"]["forget_acc"], report["run_dir"]
    page = fedunlearn.run_suite("experiments/bench/default.toml", out="results")
    again = fedunlearn.load_report(report["run_dir"])

Validation is the command line's: a bad key or value raises :class:`~fedunlearn.errors.ConfigError` with the
same one-line message, before anything runs or is written. Every error fedunlearn reports is a
:class:`~fedunlearn.errors.FedunlearnError`. By default a run works in a child process of its own session
(as the ``fedunlearn`` command does), so that an interrupt (Ctrl-C, a notebook's stop button) ends it and
every process it started at once, raising :class:`~fedunlearn.errors.Interrupted`; ``isolated=False`` runs
it in this process instead.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from itertools import groupby
from pathlib import Path
from typing import Any, Mapping

from fedunlearn.config import load_experiment_file, parse_run_config
from fedunlearn.errors import ConfigError, Interrupted, RunFailed

DEFAULT_SUITE = Path("experiments/bench/default.toml")
Overrides = Mapping[str, Any] | str | None


def experiment(experiment: str | Path | Mapping[str, Any] | None = None, overrides: Overrides = None,
               out: str | Path | None = None) -> dict[str, Any]:
    """The validated configuration of an experiment: a TOML file or a mapping of keys, then ``overrides``
    (a mapping, or Flower's ``"key=value key2=value2"``), then ``out`` (later ones win). Every key gets its
    value or default. Raises ConfigError."""
    from fedunlearn.runtime.cluster import check_ray_address
    from fedunlearn.strategies.validation import check_experiment

    if experiment is None:
        values: dict[str, Any] = {}
    elif isinstance(experiment, Mapping):
        values = dict(experiment)
    else:
        values = load_experiment_file(experiment)
    values.update(parse_run_config(overrides) if isinstance(overrides, str) else dict(overrides or {}))
    if out is not None:
        values["out-dir"] = str(out)
    config = check_experiment(values)
    check_ray_address(config["ray-address"])
    return config


def resume_config(run_dir: str | Path) -> dict[str, Any]:
    """The validated configuration of the interrupted run in ``run_dir``. Raises ConfigError."""
    from fedunlearn.reporting.report import CONFIG_FILE, REPORT_FILE
    from fedunlearn.runtime.cluster import check_ray_address
    from fedunlearn.strategies.validation import check_experiment

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"--resume {str(run_dir)!r}: no {CONFIG_FILE} there; not a fedunlearn run directory")
    if (Path(run_dir) / REPORT_FILE).exists():
        raise ConfigError(f"--resume {str(run_dir)!r}: the run finished ({REPORT_FILE} exists); nothing to resume")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"--resume {str(run_dir)!r}: {CONFIG_FILE} is not readable JSON ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--resume {str(run_dir)!r}: {CONFIG_FILE} must hold a table of keys")
    config = check_experiment(values)
    check_ray_address(config["ray-address"])
    return config


def run(experiment_: str | Path | Mapping[str, Any] | None = None, overrides: Overrides = None, *,
        out: str | Path | None = None, resume: str | Path | None = None, verbose: bool = False,
        isolated: bool = True) -> dict[str, Any]:
    """Run an experiment as a Flower simulation on Ray and return its report: the structure report.json
    holds, with ``run_dir``, the directory its files were written to.

    ``experiment_``, ``overrides`` and ``out`` as in :func:`experiment`; ``resume``: continue the interrupted
    run in that directory instead (no other argument). Raises ConfigError (bad configuration: nothing ran),
    RunFailed (the run stopped; its checkpoints are kept) or Interrupted.
    """
    if resume is not None:
        if experiment_ is not None or overrides or out is not None:
            raise ConfigError(f"--resume {str(resume)!r}: resumes the run as it was configured; give no experiment, "
                              f"overrides or out with it")
        config = resume_config(resume)
    else:
        config = experiment(experiment_, overrides, out)
    resume_dir = str(Path(resume).resolve()) if resume is not None else None
    if not isolated:
        return simulate(config, verbose, resume_dir)
    from fedunlearn.runtime.supervise import supervised

    outcome = supervised(_run_in_child, config, verbose, resume_dir, interrupted=_interrupted_run)
    if outcome.code == 0 and "run_dir" in outcome.facts:
        return load_report(outcome.facts["run_dir"])
    if outcome.interrupted:
        raise Interrupted(outcome.message)
    raise RunFailed(outcome.facts.get("error", f"the run's process ended with exit code {outcome.code}"))


def run_suite(suite: str | Path = DEFAULT_SUITE, out: str | Path = "experiments/results", *, verbose: bool = False,
              isolated: bool = True) -> dict[str, Any]:
    """Run a benchmark suite (scenarios x methods x seeds; cells already stored in ``out`` are skipped) and
    return its results page's data (``<page>.json``: every scenario's report over its seeds, the command and
    the machine). Raises ConfigError, RunFailed or Interrupted."""
    if not isolated:
        return json.loads(bench_suite(suite, out, verbose).with_suffix(".json").read_text(encoding="utf-8"))
    from fedunlearn.runtime.supervise import supervised

    outcome = supervised(_bench_in_child, str(suite), str(out), verbose, interrupted=_interrupted_run)
    if outcome.code == 0 and "page" in outcome.facts:
        return json.loads(Path(outcome.facts["page"]).with_suffix(".json").read_text(encoding="utf-8"))
    if outcome.interrupted:
        raise Interrupted(outcome.message)
    if outcome.code == 2:
        raise ConfigError(outcome.facts.get("error", "the suite is not valid"))
    raise RunFailed(outcome.facts.get("error", f"the benchmark's process ended with exit code {outcome.code}"))


def load_report(run_dir: str | Path) -> dict[str, Any]:
    """The report of the finished run in ``run_dir`` (what report.json holds). Raises ConfigError."""
    from fedunlearn.reporting.report import REPORT_FILE

    path = Path(run_dir) / REPORT_FILE
    if not path.is_file():
        raise ConfigError(f"run directory {str(run_dir)!r}: no {REPORT_FILE}; not a finished fedunlearn run")
    return json.loads(path.read_text(encoding="utf-8"))


# What runs: in this process, or in the supervised child.

def simulate(config: Mapping[str, Any], verbose: bool = False, resume: str | None = None) -> dict[str, Any]:
    """Run a validated configuration as a Flower simulation on Ray in this process (or continue the
    interrupted run in ``resume``); returns the report. Raises RunFailed."""
    from fedunlearn.runtime.progress import ConsoleProgress
    from fedunlearn.strategies.server_app import make_server_app

    results: dict[str, Any] = {}
    progress = ConsoleProgress()
    progress.message(
        f"{config['name']}: {config['dataset']} / {config['model']}, {config['num-clients']} clients "
        f"({config['partitioner']}), "
        + (f"seeds {config['seeds']}; " if config["seeds"] else f"seed {config['seed']}; ")
        + (f"connecting to Ray at {config['ray-address']}" if config["ray-address"] else "starting Ray")
    )
    _run_on_ray(make_server_app(dict(config), progress, results, Path(resume) if resume else None), config,
                results, verbose)
    if "report" not in results:
        raise RunFailed(results.get("error", "the simulation ended without a report (see the errors above)"))
    return results["report"]


def bench_suite(suite_path: str | Path, out: str | Path, verbose: bool = False, page_only: bool = False) -> Path:
    """Validate the whole suite, compute its missing cells in this process (one simulation per group of
    scenarios that share their federation size and Ray settings) and write the page; returns its path.
    ``page_only`` computes nothing: the page of the cells already stored, which says which are missing.
    Raises ConfigError before anything runs, RunFailed when a cell fails (finished cells are kept)."""
    from fedunlearn.reporting import bench
    from fedunlearn.runtime.cluster import check_ray_address
    from fedunlearn.runtime.progress import ConsoleProgress
    from fedunlearn.runtime.supervise import announce
    from fedunlearn.strategies.server_app import make_matrix_app
    from fedunlearn.strategies.validation import check_experiment

    suite = bench.load_suite(suite_path, check_experiment)
    for address in sorted({s.config["ray-address"] for s in suite.scenarios}):
        check_ray_address(address)
    command = "fedunlearn bench " + shlex.join([str(suite_path), "--out", str(out)])
    announce(bench=command, cells_done=0)
    out_dir = Path(out)
    all_cells = bench.cells(suite, out_dir)
    todo = [c for c in all_cells if not c.done()]
    progress = ConsoleProgress()
    progress.message(f"benchmark {suite.name}: {len(suite.scenarios)} scenarios x {len(suite.seeds)} seeds = "
                     f"{len(all_cells)} cells, {len(all_cells) - len(todo)} already computed"
                     + ("; writing their page, computing nothing (--page-only)" if page_only else ""))
    if page_only:
        todo = []
    progress.matrix_start(len(all_cells), len(all_cells) - len(todo))
    group_of = lambda c: (c.config["num-clients"], c.config["client-cpus"], c.config["ray-address"])  # noqa: E731
    for _, group in groupby(sorted(todo, key=group_of), key=group_of):
        group = list(group)
        results: dict[str, Any] = {}
        _run_on_ray(make_matrix_app(group, progress, results), group[0].config, results, verbose)
        if results.get("done") != len(group):
            raise RunFailed(results.get("error", "a cell did not finish"))
    done = [c for c in all_cells if c.done()]
    if not done:
        raise ConfigError(f"suite {str(suite_path)!r}: no cell is stored under {str(out_dir / 'cells' / suite.name)!r}; "
                          "nothing to write (run it without --page-only)")
    reports = {s.name: bench.scenario_report(s, [c for c in done if c.scenario is s]) for s in suite.scenarios
               if any(c.scenario is s for c in done)}
    page = bench.write_page(suite, reports, out_dir, command, bench.machines(done),
                            missing=[c for c in all_cells if c not in done])
    if suite.writes_tuned:  # a tuning suite: the rule's choice per request kind and method, for the suites to read
        bench.write_tuned(suite, reports, page, command)
        progress.message(f"tuned values: {suite.writes_tuned}")
    progress.message(f"results page: {page}")
    return page


def _hide_injected_faults(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in ("injected fault", "exception was raised when processing"))


def client_resources(config: Mapping[str, Any]) -> dict[str, float]:
    """What Ray reserves for each simulated client: ``client-cpus`` CPUs and ``client-gpus`` of a GPU (Flower's
    ``client_resources``; a share below 1 runs that many clients on one GPU)."""
    return {"num_cpus": config["client-cpus"], "num_gpus": config["client-gpus"]}


def _run_on_ray(server_app, config: Mapping[str, Any], results: dict, verbose: bool) -> None:
    """Simulate ``config['num-clients']`` clients on Ray (local, or ``ray-address``) for ``server_app``."""
    from flwr.simulation import run_simulation

    from fedunlearn.clients.client_app import app as client_app

    if not verbose:
        logging.getLogger("flwr").setLevel(logging.ERROR)
        if config["fault-rate"] > 0:  # expected: the progress output counts them; tracebacks would bury it
            flwr_log = logging.getLogger("flwr")
            if _hide_injected_faults not in flwr_log.filters:  # once, however many simulations run
                flwr_log.addFilter(_hide_injected_faults)
        # Silences Ray's tip; a client that Ray gives no GPU stays on the CPU (fedunlearn.runtime.device.for_client).
        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=config["num-clients"],
            backend_config={
                "client_resources": client_resources(config),
                "init_args": {"logging_level": "info" if verbose else "error", "log_to_driver": verbose,
                              # "local": a Ray of our own even when `ray start` left a cluster address behind
                              "address": config["ray-address"] or "local"},
            },
            verbose_logging=verbose,
        )
    except Exception as exc:  # the runtime may re-raise the ServerApp's error
        raise RunFailed(results.get("error", f"{type(exc).__name__}: {exc}")) from exc


def _run_in_child(config: Mapping[str, Any], verbose: bool, resume: str | None) -> int:
    from fedunlearn.runtime.supervise import announce

    try:
        simulate(config, verbose, resume)
    except RunFailed as exc:
        announce(error=str(exc))
        return 1
    return 0


def _bench_in_child(suite: str, out: str, verbose: bool) -> int:
    from fedunlearn.runtime.supervise import announce

    try:
        announce(page=str(bench_suite(suite, out, verbose)))
    except ConfigError as exc:
        announce(error=str(exc))
        return 2
    except RunFailed as exc:
        announce(error=str(exc))
        return 1
    return 0


def _interrupted_run(facts: Mapping[str, Any]) -> str:
    """The one line after an interrupt: how to go on from what the child said it was doing."""
    if "run_dir" in facts:
        return (f"interrupted; the run's checkpoints are kept; continue with: fedunlearn run --resume "
                f"{shlex.quote(facts['run_dir'])}")
    if "bench" in facts:
        return (f"interrupted; the {facts.get('cells_done', 0)} cell(s) finished in this run are kept; run "
                f"`{facts['bench']}` again to go on")
    return "interrupted before the run started; nothing was written"
