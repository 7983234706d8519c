"""Progress output for long runs: a bar per phase on a terminal, a line per round elsewhere."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar

from fedunlearn.runtime.phase import Cost


class Progress(Protocol):
    def phase_start(self, phase: str, rounds: int, done: int = 0) -> None: ...
    def round_done(self, phase: str, server_round: int, metrics: dict) -> None: ...
    def phase_end(self, phase: str, cost: Cost) -> None: ...
    def message(self, text: str) -> None: ...


class ConsoleProgress:
    """Shows each phase's rounds: a live bar on a terminal, one line per round in a log."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar: RichBar | None = None
        self._task = None
        self._rounds = 0
        self._matrix: list = []  # [label, done, total] while a benchmark matrix runs

    def matrix_start(self, total: int, done: int = 0) -> None:
        """A benchmark matrix of ``total`` cells begins (``done`` of them computed before)."""
        self._matrix = ["matrix", done, total]

    def cell_start(self, label: str) -> None:
        self._matrix[0] = label
        self.message(f"cell {self._matrix[1] + 1}/{self._matrix[2]}: {label}")

    def cell_done(self) -> None:
        self._matrix[1] += 1

    def phase_start(self, phase: str, rounds: int, done: int = 0) -> None:
        self._rounds = rounds
        if self.console.is_terminal:
            self._bar = RichBar(
                TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), console=self.console,
            )
            self._bar.start()
            if self._matrix:
                label, cells_done, total = self._matrix
                self._bar.add_task(escape(f"cells ({label})"), total=total, completed=cells_done, loss="")
            self._task = self._bar.add_task(escape(phase), total=rounds, completed=done, loss="")

    def round_done(self, phase: str, server_round: int, metrics: dict) -> None:
        loss = f"train loss {metrics['train-loss']:.4f}" if "train-loss" in metrics else ""
        if metrics.get("failures"):
            loss += f"  ({metrics['failures']:.0f} failed)"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, loss=loss)
        else:
            self.console.print(f"{phase:<12} round {server_round}/{self._rounds}  {loss}", highlight=False, markup=False)

    def phase_end(self, phase: str, cost: Cost) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self.console.print(
            f"{phase:<12} done: {cost.rounds} rounds, {cost.client_rounds} client trainings, "
            f"{(cost.bytes_down + cost.bytes_up) / 1e6:.1f} MB, {cost.seconds:.1f} s",
            highlight=False,
            markup=False,
        )

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)


class SilentProgress:
    """Shows nothing (tests, library use)."""

    def phase_start(self, phase: str, rounds: int, done: int = 0) -> None:
        pass

    def round_done(self, phase: str, server_round: int, metrics: dict) -> None:
        pass

    def phase_end(self, phase: str, cost: Cost) -> None:
        pass

    def message(self, text: str) -> None:
        pass
