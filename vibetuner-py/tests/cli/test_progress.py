"""Long CLI work shows progress (issue #15, item 7): a bar over the steps with the running
command's latest line while it runs, a ticked line with its time after, and on failure the
command's last lines."""

import io
import os
import sys
from pathlib import Path

import pytest
from rich.console import Console

from vibetuner.cli._progress import Steps, run_streaming
from vibetuner.cli.scaffold import _run
from vibetuner.exceptions import ScaffoldError

CHATTY = "import sys, time\nfor n in range(3):\n    print(f'line {n}', flush=True)\n"


def test_each_line_arrives_as_the_command_prints_it(tmp_path: Path) -> None:
    seen: list[str] = []
    code = CHATTY + "print('to stderr', file=sys.stderr, flush=True)\nsys.exit(3)\n"
    status, tail = run_streaming(
        [sys.executable, "-c", code], tmp_path, os.environ, seen.append, keep=2
    )
    assert status == 3
    assert seen == ["line 0", "line 1", "line 2", "to stderr"], "stdout and stderr, in order"
    assert tail == ["line 2", "to stderr"]


def test_a_terminal_sees_the_step_its_latest_output_and_a_tick() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    with Steps(console, total=2) as steps:
        with steps.step("Install Python dependencies") as output:
            output("Resolved 80 packages in 1.2s")
        with steps.step("Build the assets"):
            pass
    text = screen.getvalue()
    assert "Install Python dependencies…" in text and "Resolved 80 packages" in text
    assert "0/2" in text and "2/2" in text
    assert "✓ Install Python dependencies (" in text and "✓ Build the assets (" in text


def test_a_log_gets_one_line_per_step() -> None:
    log = io.StringIO()
    console = Console(file=log, force_terminal=False, width=120)
    with Steps(console, total=1) as steps, steps.step("Render the template") as output:
        output("noise that only a terminal shows")
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("✓ Render the template (")


def test_a_failed_step_shows_what_the_command_said_last(tmp_path: Path) -> None:
    code = CHATTY + "sys.exit('npm ERR! missing script: build')\n"
    shown: list[str] = []
    with pytest.raises(ScaffoldError) as failure:
        _run("build the assets", [sys.executable, "-c", code], tmp_path, "npm run build",
             shown.append)  # fmt: skip
    assert "exit 1" in failure.value.message and "missing script: build" in failure.value.message
    assert "line 2" in failure.value.message and failure.value.fix is not None
    assert shown[-1] == "npm ERR! missing script: build"
