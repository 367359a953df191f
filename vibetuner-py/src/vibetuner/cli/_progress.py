"""What the CLI prints: progress for long work (a rich bar over the steps, with the running
command's latest output line beside it, and a ✓ line per finished step: all that a log
gets), and stored text made safe to print on a terminal."""

from __future__ import annotations

import collections
import subprocess
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


def printable(text: str) -> str:
    """Text users or jobs stored (a name, an error), with control characters and bidi
    overrides shown as escapes: a name holding `\\r` and terminal codes would otherwise
    rewrite the lines around it. Emoji joiners and other letters stay as they are."""
    return "".join(
        ch.encode("unicode_escape").decode()
        if unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS
        else ch
        for ch in text
    )


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


Output = Callable[[str], None]
"""Takes each line a step's command prints, as it prints it."""
DETAIL_WIDTH = 60


class Steps:
    """`with Steps(console, total) as steps: with steps.step("Install"): ...`."""

    def __init__(self, console: Console, total: int) -> None:
        from rich.progress import (  # rich: kept off the CLI's startup
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self._live = console.is_terminal  # a live bar on a terminal; a log gets the ticks only
        self._progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[detail]}"),
            console=console,
            transient=True,
        )
        self._task: TaskID = self._progress.add_task("", total=total, detail="")

    def __enter__(self) -> Self:
        if self._live:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live:
            self._progress.stop()

    @contextmanager
    def step(self, label: str) -> Iterator[Output]:
        """Show `label` while the block runs; the block reports output lines to the callback.
        On success the step is ticked off with its time."""
        started = time.monotonic()
        self._progress.update(self._task, description=f"{label}…", detail="", refresh=True)

        def detail(line: str) -> None:
            text = line.strip()
            if text:
                shown = text if len(text) <= DETAIL_WIDTH else text[: DETAIL_WIDTH - 1] + "…"
                self._progress.update(self._task, detail=shown, refresh=True)

        yield detail
        self._progress.update(self._task, advance=1, detail="")
        self.console.print(f"[green]✓[/] {label} [dim]({time.monotonic() - started:.1f} s)[/]")


def run_streaming(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], output: Output, keep: int = 8
) -> tuple[int, list[str]]:
    """Run `command`, passing each line it prints (stdout and stderr) to `output`; return
    its exit status and its last `keep` lines."""
    tail: collections.deque[str] = collections.deque(maxlen=keep)
    with subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip()
            if line.strip():
                tail.append(line)
                output(line)
    return process.returncode, list(tail)
