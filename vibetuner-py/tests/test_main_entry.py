"""The `vibetuner` command loads its CLI with the collector paused, and runs it with it on."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

PROBE = """
import gc, json, sys

loading = []  # one entry per collection while vibetuner.cli was loading


def seen(phase, info):
    cli = sys.modules.get("vibetuner.cli")
    if phase == "start" and cli is not None and getattr(cli, "main", None) is None:
        loading.append(info["generation"])


gc.callbacks.append(seen)
import vibetuner.__main__ as entry

sys.argv = ["vibetuner", "version"]
try:
    entry.main()
except SystemExit:
    pass
print(json.dumps({"loading": loading, "enabled": gc.isenabled(),
                  "frozen": gc.get_freeze_count()}))
"""


def test_the_console_script_is_the_entry_point() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "vibetuner"]
    assert script.value == "vibetuner.__main__:main"


def test_no_collection_runs_while_the_cli_loads_and_it_is_on_after() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # Loading Typer, pydantic and the settings with the collector on runs it hundreds of times.
    assert found["loading"] == []
    assert found["enabled"] is True
    assert found["frozen"] > 20_000  # what loaded, out of the collector's view


def test_python_dash_m_vibetuner_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vibetuner", "version"], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip()
