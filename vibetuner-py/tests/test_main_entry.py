"""The `vibetuner` command loads the CLI with the collector paused, and leaves it running."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points


def test_the_console_script_is_the_entry_point() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "vibetuner"]
    assert script.value == "vibetuner.__main__:main"


def test_the_command_runs_with_the_collector_on_and_the_cli_frozen() -> None:
    code = (
        "import gc, json, vibetuner.__main__ as entry, vibetuner.cli as cli\n"
        "seen = []\n"
        "cli.main = lambda: seen.append((gc.isenabled(), gc.get_freeze_count()))\n"
        "entry.main()\n"
        "print(json.dumps(seen))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    ((enabled, frozen),) = json.loads(done.stdout)
    assert enabled is True
    assert frozen > 20_000  # Typer, pydantic and the settings, out of the collector's view


def test_python_dash_m_vibetuner_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vibetuner", "version"], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip()
