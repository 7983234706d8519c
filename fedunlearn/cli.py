"""Command line: ``fedunlearn run [EXPERIMENT.toml] [--run-config "key=value ..."] [--out DIR]``.

The configuration is checked completely before Ray starts; a bad one gets one line on stderr naming
the key, the value and what is allowed, and exit code 2, with nothing written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from .config import ConfigError, load_experiment_file, parse_run_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedunlearn", description="Federated unlearning simulator on Flower and Ray.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment as a Flower simulation on Ray")
    run.add_argument("experiment", nargs="?", help="experiment TOML file (flat key = value pairs)")
    run.add_argument("--run-config", default="", help='overrides, Flower style: "key=value key2=value2"')
    run.add_argument("--out", help="output directory (default: runs/<name>-<timestamp>/)")
    run.add_argument("--verbose", action="store_true", help="show Flower's and Ray's own logs")
    return parser


def experiment_config(experiment: str | None, run_config: str = "", out: str | None = None) -> dict[str, Any]:
    """The validated configuration from an experiment file, ``--run-config`` overrides and ``--out``
    (later ones win). Raises ConfigError."""
    from strategies.flow import check_experiment

    values = load_experiment_file(experiment) if experiment else {}
    values.update(parse_run_config(run_config))
    if out:
        values["out-dir"] = out
    return check_experiment(values)


def simulate(config: dict[str, Any], verbose: bool = False) -> dict[str, Any]:
    """Run a validated configuration as a Flower simulation on Ray; returns the report."""
    from flwr.simulation import run_simulation

    from clients.client_app import app as client_app
    from strategies.server_app import make_server_app

    from .progress import ConsoleProgress

    if not verbose:
        logging.getLogger("flwr").setLevel(logging.ERROR)
        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # silences a tip; no GPUs are used
    results: dict[str, Any] = {}
    progress = ConsoleProgress()
    progress.message(
        f"{config['name']}: {config['dataset']} / {config['model']}, {config['num-clients']} clients "
        f"({config['partitioner']}), seed {config['seed']}; starting Ray"
    )
    run_simulation(
        server_app=make_server_app(config, progress, results),
        client_app=client_app,
        num_supernodes=config["num-clients"],
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"logging_level": "info" if verbose else "error", "log_to_driver": verbose},
        },
        verbose_logging=verbose,
    )
    if "report" not in results:
        raise RuntimeError("the simulation ended without a report (see the errors above)")
    return results["report"]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = experiment_config(args.experiment, args.run_config, args.out)
    except ConfigError as exc:
        print(f"fedunlearn: error: {exc}", file=sys.stderr)
        return 2
    from .report import print_table

    report = simulate(config, verbose=args.verbose)
    print_table(report)
    print(f"report: {report['run_dir']}/report.md")
    return 0
