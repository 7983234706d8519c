"""The Flower ServerApp: reads the run config, runs the experiment flow and writes the report.

``flwr run .`` loads ``app`` (see ``[tool.flwr.app.components]``); ``fedunlearn run`` builds the same
app with :func:`make_server_app` around an already validated configuration.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedunlearn.config import DEFAULTS
from fedunlearn.reporting.report import CONFIG_FILE, new_run_dir, print_table, write_atomically, write_report
from fedunlearn.runtime.checkpoint import RunCheckpoints
from fedunlearn.runtime.progress import ConsoleProgress, Progress
from fedunlearn.runtime.supervise import announce

from .flow import run_experiment
from .validation import check_experiment


def run_and_write(grid: Grid, config: Mapping[str, Any], progress: Progress, resume: Path | None = None) -> dict:
    """Run the experiment in its run directory and write the report there.

    The directory holds ``config.json`` and ``checkpoints/`` while the run lasts (``fedunlearn run
    --resume DIR`` continues from them); when the report is written the checkpoints are removed.
    """
    out_dir = resume or new_run_dir(config)
    checkpoints = RunCheckpoints(out_dir)
    if resume is None:
        shutil.rmtree(checkpoints.root, ignore_errors=True)  # stale checkpoints of an earlier run in out-dir
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(out_dir / CONFIG_FILE, json.dumps(dict(config), indent=2) + "\n")
    checkpoints.root.mkdir(parents=True, exist_ok=True)  # there from the start: a run may stop in its first round
    announce(run_dir=str(out_dir))  # the supervising command names it after Ctrl-C
    progress.message(f"run directory: {out_dir}")
    report = run_experiment(grid, config, progress, checkpoints)
    report["run_dir"] = str(out_dir)
    write_report(report, out_dir)
    shutil.rmtree(checkpoints.root, ignore_errors=True)
    progress.message(f"report written to {out_dir}")
    return report


def make_server_app(
    config: Mapping[str, Any], progress: Progress, results: dict | None = None, resume: Path | None = None
) -> ServerApp:
    """A ServerApp that runs ``config`` (already validated), or resumes the run in ``resume``; the
    report lands in ``results['report']``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            report = run_and_write(grid, config, progress, resume)
        except Exception as exc:  # surfaced by the caller: the simulation runtime only logs it
            if results is not None:
                results["error"] = f"{type(exc).__name__}: {exc}"
            raise
        if results is not None:
            results["report"] = report

    return app


def make_matrix_app(cells: list, progress: ConsoleProgress, results: dict) -> ServerApp:
    """A ServerApp that computes benchmark ``cells`` (``fedunlearn.reporting.bench.Cell``) one after the other on the
    same federation, storing each as it finishes (its checkpoints beside it until then)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        results["done"] = 0
        try:
            for cell in cells:
                progress.cell_start(cell.label)
                folder = cell.path.with_suffix("")
                saved = folder / CONFIG_FILE
                if saved.exists() and json.loads(saved.read_text(encoding="utf-8")) != cell.config:
                    shutil.rmtree(folder)  # checkpoints of an earlier version of this scenario
                folder.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps(cell.config), encoding="utf-8")
                start = time.perf_counter()
                report = run_experiment(grid, cell.config, progress, RunCheckpoints(folder))
                cell.save(report, seconds=time.perf_counter() - start)
                shutil.rmtree(folder, ignore_errors=True)
                progress.cell_done()
                results["done"] += 1
                announce(cells_done=results["done"])
        except Exception as exc:
            results["error"] = f"{type(exc).__name__}: {exc}"
            raise

    return app


app = ServerApp()


def explicit_keys(run_config: Mapping[str, Any]) -> dict[str, Any]:
    """The keys a ``flwr run`` user set: Flower merges every default of ``[tool.flwr.app.config]`` into
    the run config, so keys equal to their default are dropped (else the default ``forget-class``
    would collide with a ``forget-client`` request)."""
    return {k: v for k, v in run_config.items() if k not in DEFAULTS or v != DEFAULTS[k]}


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = check_experiment(explicit_keys(context.run_config))
    progress = ConsoleProgress()
    report = run_and_write(grid, config, progress)
    print_table(report)
