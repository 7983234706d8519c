"""Command line: ``fedunlearn run [EXPERIMENT.toml] [--run-config "key=value ..."] [--out DIR]``, and
``fedunlearn run --resume DIR`` to continue an interrupted run from its checkpoints.

The configuration is checked completely before Ray starts; a bad one gets one line on stderr naming
the key, the value and what is allowed, and exit code 2, with nothing written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, load_experiment_file, parse_run_config

DEFAULT_SUITE = Path("experiments/bench/default.toml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedunlearn", description="Federated unlearning simulator on Flower and Ray.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment as a Flower simulation on Ray")
    run.add_argument("experiment", nargs="?", help="experiment TOML file (flat key = value pairs)")
    run.add_argument("--run-config", default="", help='overrides, Flower style: "key=value key2=value2"')
    run.add_argument("--out", help="output directory (default: runs/<name>-<timestamp>/)")
    run.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR (its config.json and checkpoints)")
    run.add_argument("--verbose", action="store_true", help="show Flower's and Ray's own logs")
    bench = sub.add_parser("bench", help="run a benchmark suite: scenarios x methods x seeds, one results page")
    bench.add_argument("suite", nargs="?", default=str(DEFAULT_SUITE), help="suite TOML file (default: %(default)s)")
    bench.add_argument("--out", default="experiments/results", help="where benchmark.md/.json, plots/ and "
                                                                    "cells/ go (default: %(default)s)")
    bench.add_argument("--verbose", action="store_true", help="show Flower's and Ray's own logs")
    deploy = sub.add_parser("deploy", help="Flower deployment: credentials, or a local federation to try it")
    what = deploy.add_subparsers(dest="deploy_command", required=True)
    creds = what.add_parser("credentials", help="write a CA, a SuperLink certificate and SuperNode key pairs")
    creds.add_argument("directory", help="where to write certificates/ and keys/ (must not exist)")
    creds.add_argument("--supernodes", type=int, required=True, help="number of SuperNode key pairs")
    creds.add_argument("--host", action="append", default=[],
                       help="SuperLink host name or IP the certificate is valid for (repeatable; default 127.0.0.1 "
                            "and localhost)")
    local = what.add_parser("local", help="start a SuperLink and N SuperNodes on this machine until Ctrl-C")
    local.add_argument("--supernodes", type=int, required=True, help="number of SuperNodes (= num-clients)")
    local.add_argument("--dir", default="runs/federation", help="where credentials, logs and FLWR_HOME go")
    local.add_argument("--insecure", action="store_true",
                       help="INSECURE: no TLS and no SuperNode authentication (for debugging only)")
    return parser


def deploy(args: argparse.Namespace) -> int:
    """``fedunlearn deploy credentials|local``."""
    import signal
    import time

    from .deploy import LocalFederation, make_credentials

    if args.supernodes < 1:
        print(f"fedunlearn: error: --supernodes = {args.supernodes}: must be at least 1", file=sys.stderr)
        return 2
    if args.deploy_command == "credentials":
        if Path(args.directory).exists():
            print(f"fedunlearn: error: directory {args.directory!r} exists; credentials are never overwritten",
                  file=sys.stderr)
            return 2
        creds = make_credentials(args.directory, args.supernodes, tuple(args.host) or ("127.0.0.1", "localhost"))
        print(f"wrote {creds.ca_cert.parent}/ (ca.crt, ca.key, server.pem, server.key) and {creds.root / 'keys'}/ "
              f"(supernode-N, supernode-N.pub for N = 0..{args.supernodes - 1}); docs/deployment.md says where each goes")
        return 0
    federation = LocalFederation(Path(args.dir), args.supernodes, insecure=args.insecure)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop everything on kill as on Ctrl-C
    try:
        federation.start()
        print(federation.describe(), flush=True)
        while all(p.poll() is None for p in federation.processes.values()):
            time.sleep(1)
        print("a process of the federation exited; see the logs above", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the SuperNodes and the SuperLink", flush=True)
        federation.stop()
    return 0


def experiment_config(experiment: str | None, run_config: str = "", out: str | None = None) -> dict[str, Any]:
    """The validated configuration from an experiment file, ``--run-config`` overrides and ``--out``
    (later ones win). Raises ConfigError."""
    from strategies.flow import check_experiment

    from .cluster import check_ray_address

    values = load_experiment_file(experiment) if experiment else {}
    values.update(parse_run_config(run_config))
    if out:
        values["out-dir"] = out
    config = check_experiment(values)
    check_ray_address(config["ray-address"])
    return config


class RunFailed(RuntimeError):
    """The run stopped before its report (a client failure below min-clients, an error in a phase)."""


def resume_config(run_dir: str) -> dict[str, Any]:
    """The validated configuration of the interrupted run in ``run_dir``. Raises ConfigError."""
    import json

    from strategies.flow import check_experiment

    from .report import CONFIG_FILE

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir!r}: no {CONFIG_FILE} there; not a fedunlearn run directory")
    if (Path(run_dir) / "report.json").exists():
        raise ConfigError(f"--resume {run_dir!r}: the run finished (report.json exists); nothing to resume")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"--resume {run_dir!r}: {CONFIG_FILE} is not readable JSON ({exc})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--resume {run_dir!r}: {CONFIG_FILE} must hold a table of keys")
    from .cluster import check_ray_address

    config = check_experiment(values)
    check_ray_address(config["ray-address"])
    return config


def simulate(config: dict[str, Any], verbose: bool = False, resume: str | None = None) -> dict[str, Any]:
    """Run a validated configuration as a Flower simulation on Ray (or continue the interrupted run in
    ``resume``); returns the report."""
    from strategies.server_app import make_server_app

    from .progress import ConsoleProgress

    results: dict[str, Any] = {}
    progress = ConsoleProgress()
    progress.message(
        f"{config['name']}: {config['dataset']} / {config['model']}, {config['num-clients']} clients "
        f"({config['partitioner']}), seed {config['seed']}; "
        + (f"connecting to Ray at {config['ray-address']}" if config["ray-address"] else "starting Ray")
    )
    _run_on_ray(make_server_app(config, progress, results, Path(resume).resolve() if resume else None), config,
                results, verbose)
    if "report" not in results:
        raise RunFailed(results.get("error", "the simulation ended without a report (see the errors above)"))
    return results["report"]


def _hide_injected_faults(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in ("injected fault", "exception was raised when processing"))


def _run_on_ray(server_app, config: dict[str, Any], results: dict, verbose: bool) -> None:
    """Simulate ``config['num-clients']`` clients on Ray (local, or ``ray-address``) for ``server_app``."""
    from flwr.simulation import run_simulation

    from clients.client_app import app as client_app

    if not verbose:
        logging.getLogger("flwr").setLevel(logging.ERROR)
        if config["fault-rate"] > 0:  # expected: the progress output counts them; tracebacks would bury it
            flwr_log = logging.getLogger("flwr")
            if _hide_injected_faults not in flwr_log.filters:  # once, however many simulations run
                flwr_log.addFilter(_hide_injected_faults)
        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # silences a tip; no GPUs are used
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=config["num-clients"],
            backend_config={
                "client_resources": {"num_cpus": config["client-cpus"], "num_gpus": 0.0},
                "init_args": {"logging_level": "info" if verbose else "error", "log_to_driver": verbose,
                              # "local": a Ray of our own even when `ray start` left a cluster address behind
                              "address": config["ray-address"] or "local"},
            },
            verbose_logging=verbose,
        )
    except Exception as exc:  # the runtime may re-raise the ServerApp's error
        raise RunFailed(results.get("error", f"{type(exc).__name__}: {exc}")) from exc


def run_bench(suite_path: str, out: str, verbose: bool = False) -> int:
    """``fedunlearn bench``: validate the whole suite, compute the missing cells (one simulation per group
    of scenarios that share their federation size and Ray settings), write the page."""
    import shlex
    from itertools import groupby

    from strategies.flow import check_experiment
    from strategies.server_app import make_matrix_app

    from . import bench, environment
    from .progress import ConsoleProgress

    from .cluster import check_ray_address

    try:
        suite = bench.load_suite(suite_path, check_experiment)
        for address in sorted({s.config["ray-address"] for s in suite.scenarios}):
            check_ray_address(address)
    except ConfigError as exc:
        print(f"fedunlearn: error: {exc}", file=sys.stderr)
        return 2
    from .supervise import announce

    announce(bench="fedunlearn bench " + shlex.join([suite_path, "--out", out]), cells_done=0)
    out_dir = Path(out)
    all_cells = bench.cells(suite, out_dir)
    todo = [c for c in all_cells if not c.done()]
    progress = ConsoleProgress()
    progress.message(f"benchmark {suite.name}: {len(suite.scenarios)} scenarios x {len(suite.seeds)} seeds = "
                     f"{len(all_cells)} cells, {len(all_cells) - len(todo)} already computed")
    progress.matrix_start(len(all_cells), len(all_cells) - len(todo))
    group_of = lambda c: (c.config["num-clients"], c.config["client-cpus"], c.config["ray-address"])  # noqa: E731
    for _, group in groupby(sorted(todo, key=group_of), key=group_of):
        group = list(group)
        results: dict[str, Any] = {}
        try:
            _run_on_ray(make_matrix_app(group, progress, results), group[0].config, results, verbose)
        except RunFailed as exc:
            print(f"fedunlearn: benchmark stopped: {exc}", file=sys.stderr)
            print("fedunlearn: finished cells are kept; run the same command again to go on", file=sys.stderr)
            return 1
        if results.get("done") != len(group):
            print(f"fedunlearn: benchmark stopped: {results.get('error', 'a cell did not finish')}", file=sys.stderr)
            return 1
    reports = {s.name: bench.scenario_report(s, [c for c in all_cells if c.scenario is s]) for s in suite.scenarios}
    command = "fedunlearn bench " + shlex.join([suite_path, "--out", out])
    page = bench.write_page(suite, reports, out_dir, command, environment.describe())
    progress.message(f"results page: {page}")
    return 0


def entry() -> int:
    """The ``fedunlearn`` command: ``run`` and ``bench`` work in a supervised child process, so that Ctrl-C
    stops the run and every process it started at once (:mod:`fedunlearn.supervise`)."""
    from .supervise import supervised

    argv = sys.argv[1:]
    args = _parser().parse_args(argv)  # --help and usage errors answer here, before any child starts
    if args.command not in ("run", "bench"):
        return main(argv)
    return supervised(main, argv, interrupted=_interrupted)


def _interrupted(facts: dict) -> str:
    """The one line after Ctrl-C: how to go on from what the child said it was doing."""
    import shlex

    if "run_dir" in facts:
        return f"interrupted; the run's checkpoints are kept; continue with: fedunlearn run --resume " \
               f"{shlex.quote(facts['run_dir'])}"
    if "bench" in facts:
        return (f"interrupted; the {facts.get('cells_done', 0)} cell(s) finished in this run are kept; run "
                f"`{facts['bench']}` again to go on")
    return "interrupted before the run started; nothing was written"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "deploy":
        return deploy(args)
    if args.command == "bench":
        return run_bench(args.suite, args.out, args.verbose)
    try:
        if args.resume and (args.experiment or args.run_config or args.out):
            raise ConfigError(f"--resume {args.resume!r}: resumes the run as it was configured; "
                              f"give no experiment file, --run-config or --out with it")
        if args.resume:
            config = resume_config(args.resume)
        else:
            config = experiment_config(args.experiment, args.run_config, args.out)
    except ConfigError as exc:
        print(f"fedunlearn: error: {exc}", file=sys.stderr)
        return 2
    from .report import print_table

    try:
        report = simulate(config, verbose=args.verbose, resume=args.resume)
    except RunFailed as exc:
        print(f"fedunlearn: run failed: {exc}", file=sys.stderr)
        print("fedunlearn: its checkpoints are kept; continue with: fedunlearn run --resume <run directory>",
              file=sys.stderr)
        return 1
    print_table(report)
    print(f"report: {report['run_dir']}/report.md")
    return 0
