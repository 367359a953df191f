"""How far `make bench` has got: a rich progress bar on a terminal, a line per step in a log.

A run takes minutes; the bar is weighted by each step's expected seconds, so its remaining
time means something (a load takes warm-up plus duration, a cold start a few seconds).
"""

import sys
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Steps:
    """Planned work in expected seconds; `step` finishes the previous step and names the next."""

    def __init__(self, total_seconds: float, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._live = self.console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]bench[/]"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("left ~"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=True,
        )
        self._task: TaskID | None = None
        self._total = total_seconds
        self._pending = 0.0

    def __enter__(self) -> Self:
        if self._live:
            self._progress.start()
            self._task = self._progress.add_task("", total=self._total)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live:
            self._progress.stop()

    def add(self, seconds: float) -> None:
        """More work than planned (a round, a server): the bar's end moves out."""
        self._total += seconds
        if self._task is not None:
            self._progress.update(self._task, total=self._total)

    def step(self, text: str, seconds: float) -> None:
        """Finish the previous step and start this one, expected to take `seconds`."""
        if self._task is not None:
            self._progress.update(self._task, advance=self._pending, description=text)
        else:
            print(f"bench: {text}", file=sys.stderr, flush=True)
        self._pending = seconds

    def note(self, text: str) -> None:
        """A line that stays (above the bar on a terminal)."""
        if self._live:
            self._progress.console.print(f"bench: {text}", markup=False)
        else:
            print(f"bench: {text}", file=sys.stderr, flush=True)
