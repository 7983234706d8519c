"""The Flower ServerApp: reads the run config, runs the experiment flow and writes the report.

``flwr run .`` loads ``app`` (see ``[tool.flwr.app.components]``); ``fedunlearn run`` builds the same
app with :func:`make_server_app` around an already validated configuration.
"""

from __future__ import annotations

from typing import Any, Mapping

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fedunlearn.progress import ConsoleProgress, Progress
from fedunlearn.report import new_run_dir, print_table, write_report

from .flow import check_experiment, run_experiment


def run_and_write(grid: Grid, config: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    """Run the experiment and write its report into the run directory (created only at the end)."""
    out_dir = new_run_dir(config)
    report = run_experiment(grid, config, progress)
    report["run_dir"] = str(out_dir)
    write_report(report, out_dir)
    progress.message(f"report written to {out_dir}")
    return report


def make_server_app(config: Mapping[str, Any], progress: Progress, results: dict | None = None) -> ServerApp:
    """A ServerApp that runs ``config`` (already validated); the report lands in ``results['report']``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        report = run_and_write(grid, config, progress)
        if results is not None:
            results["report"] = report

    return app


app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = check_experiment(dict(context.run_config))
    progress = ConsoleProgress()
    report = run_and_write(grid, config, progress)
    print_table(report)
