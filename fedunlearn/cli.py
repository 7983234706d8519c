"""Command line: ``fedunlearn run [EXPERIMENT.toml] [--run-config "key=value ..."] [--out DIR]``, and
``fedunlearn run --resume DIR`` to continue an interrupted run from its checkpoints.

The configuration is checked completely before Ray starts; a bad one gets one line on stderr naming
the key, the value and what is allowed, and exit code 2, with nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fedunlearn.api import DEFAULT_SUITE, resume_config
from fedunlearn.errors import ConfigError, RunFailed


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
    bench.add_argument("--page-only", action="store_true", help="compute nothing: write the page of the cells "
                                                                "already stored (it names the missing ones)")
    report = sub.add_parser("report", help="rebuild finished runs' report.md, report.html and plots from their "
                                           "report.json, computing nothing")
    report.add_argument("run_dirs", metavar="DIR", nargs="+", help="a run directory holding report.json")
    board = sub.add_parser("board", help="rebuild the HTML leaderboard of finished suites from their page json, "
                                         "computing nothing")
    board.add_argument("pages", metavar="PATH", nargs="+",
                       help="a suite's page json (experiments/results/fashion-mnist.json) or a folder of them")
    sub.add_parser("methods", help="list every unlearning method, where it comes from and the requests it serves")
    sub.add_parser("models", help="list every model (model = \"name\"), built-in or from an installed package")
    sub.add_parser("datasets", help="list every data set (dataset = \"name\"), built-in or from an installed package")
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

    from fedunlearn.runtime.deploy import LocalFederation, make_credentials

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
    from fedunlearn.api import experiment as validated

    return validated(experiment, run_config, out)


def run_bench(suite_path: str, out: str, verbose: bool = False, page_only: bool = False) -> int:
    """``fedunlearn bench``: the suite's missing cells and its page, in this process; an exit code."""
    from fedunlearn.api import bench_suite

    try:
        bench_suite(suite_path, out, verbose, page_only)
    except ConfigError as exc:
        print(f"fedunlearn: error: {exc}", file=sys.stderr)
        return 2
    except RunFailed as exc:
        print(f"fedunlearn: benchmark stopped: {exc}", file=sys.stderr)
        print("fedunlearn: finished cells are kept; run the same command again to go on", file=sys.stderr)
        return 1
    return 0


def list_parts(kind: str) -> int:
    """``fedunlearn methods|models|datasets``: a table of every registered one, built-in or from an installed
    package; a broken or clashing plugin is one line and exit code 2."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    try:
        if kind == "methods":
            from fedunlearn.strategies import methods

            title = "unlearning methods (unlearn-methods = \"name,...\"; retrain: the reference)"
            columns = ("method", "from", "requests", "what it does")
            rows = [(i.name, i.origin, ", ".join(sorted(i.request_kinds)), i.summary) for i in methods.describe()]
        else:
            from fedunlearn.data.datasets import DATASETS
            from fedunlearn.learning.models import MODELS

            registry = MODELS if kind == "models" else DATASETS
            title = f"{kind} ({registry.what} = \"name\"; plugins: entry point group {registry.group})"
            columns = (registry.what, "from", "what it is")
            rows = [(e.name, e.origin, e.summary) for e in registry.describe()]
    except ConfigError as exc:
        print(f"fedunlearn: error: {exc}", file=sys.stderr)
        return 2
    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*map(escape, row))
    Console(width=None if Console().is_terminal else 160).print(table)
    return 0


def rebuild_reports(run_dirs: list[str]) -> int:
    """``fedunlearn report DIR...``: each run's report.md, report.html and plots/ again from its report.json; an exit
    code.
    Every directory is checked before any page is written."""
    from fedunlearn.api import load_report
    from fedunlearn.reporting.report import write_pages
    from fedunlearn.reporting.seeds import recombine

    try:
        reports = [load_report(run_dir) for run_dir in run_dirs]
    except ConfigError as exc:
        print(f"fedunlearn: error: {exc}", file=sys.stderr)
        return 2
    for run_dir, report in zip(run_dirs, reports):  # the numbers stored, combined under today's definitions
        print(f"report: {write_pages(recombine(report), Path(run_dir))}")
    return 0


def rebuild_boards(paths: list[str]) -> int:
    """``fedunlearn board PATH...``: each suite page's leaderboard (``<page>.html``) again from its json; a folder
    stands for every suite page json in it. Every path is checked before any page is written."""
    import json

    from fedunlearn.reporting.board import write_suite_board

    pages = []
    for given in paths:
        path = Path(given)
        candidates = sorted(path.glob("*.json")) if path.is_dir() else [path]
        found = []
        for candidate in candidates:
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                print(f"fedunlearn: error: {candidate}: not a readable suite page json ({exc})", file=sys.stderr)
                return 2
            if isinstance(data, dict) and {"suite", "scenarios", "command"} <= data.keys():
                found.append(candidate)
            elif not path.is_dir():
                print(f"fedunlearn: error: {candidate}: not a suite page json (written by fedunlearn bench: it has "
                      "suite, scenarios and command)", file=sys.stderr)
                return 2
        if not found:
            print(f"fedunlearn: error: {given}: no suite page json there", file=sys.stderr)
            return 2
        pages += found
    for page in pages:
        print(f"leaderboard: {write_suite_board(page)}")
    return 0


def entry() -> int:
    """The ``fedunlearn`` command: ``run`` and ``bench`` work in a supervised child process, so that Ctrl-C
    stops the run and every process it started at once (:mod:`fedunlearn.runtime.supervise`)."""
    from fedunlearn.runtime.supervise import supervised

    argv = sys.argv[1:]
    args = _parser().parse_args(argv)  # --help and usage errors answer here, before any child starts
    if args.command not in ("run", "bench"):
        return main(argv)
    from fedunlearn.api import _interrupted_run

    return supervised(main, argv, interrupted=_interrupted_run).code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "deploy":
        return deploy(args)
    if args.command == "bench":
        return run_bench(args.suite, args.out, args.verbose, args.page_only)
    if args.command in ("methods", "models", "datasets"):
        return list_parts(args.command)
    if args.command == "report":
        return rebuild_reports(args.run_dirs)
    if args.command == "board":
        return rebuild_boards(args.pages)
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
    from fedunlearn.api import simulate
    from fedunlearn.reporting.report import print_table

    try:
        report = simulate(config, verbose=args.verbose, resume=str(Path(args.resume).resolve()) if args.resume else None)
    except RunFailed as exc:
        print(f"fedunlearn: run failed: {exc}", file=sys.stderr)
        print("fedunlearn: its checkpoints are kept; continue with: fedunlearn run --resume <run directory>",
              file=sys.stderr)
        return 1
    print_table(report)
    print(f"report: {report['run_dir']}/report.md")
    return 0
