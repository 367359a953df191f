"""`make bench` first builds each app as its Dockerfile does: production assets, bytecode.

The Dockerfile installs with UV_COMPILE_BYTECODE=1 and compiles the app's code, so a
container never compiles a module at startup. An app installed here may lack some `.pyc`
files (and where PYTHONDONTWRITEBYTECODE is set, Python never writes them), which would
charge the compile to whichever server first imports such a module at each launch.
"""

import os
import subprocess
from pathlib import Path

from rich.console import Console
from vibetuner.cli._progress import Steps, run_streaming

from bench._procs import RunFailed
from bench._servers import framework_dir

BUILD = ["npm", "run", "build-prod"]


def build(app_dirs: list[Path]) -> None:
    """`npm run build-prod` in each app, one progress line each; the output's tail on failure.
    Then the bytecode of each app's environment, its code and the framework it runs."""
    console = Console(stderr=True, highlight=False)
    with Steps(console, 2 * len(app_dirs)) as steps:
        for app_dir in app_dirs:
            with steps.step(
                f"Build {app_dir.name}'s assets ({' '.join(BUILD)})"
            ) as output:
                status, tail = run_streaming(BUILD, app_dir, os.environ, output)
                if status != 0:
                    raise RunFailed(
                        f"{' '.join(BUILD)} in {app_dir} exited {status}:\n"
                        + "\n".join(tail)
                    )
            with steps.step(
                f"Compile {app_dir.name}'s bytecode (as its Dockerfile does)"
            ):
                compile_bytecode(app_dir)


def compile_bytecode(app_dir: Path) -> None:
    app_dir = app_dir.resolve()
    python = app_dir / ".venv/bin/python"
    folders = [*app_dir.glob(".venv/lib/python*/site-packages"), framework_dir(app_dir)]
    if (app_dir / "src").is_dir():
        folders.append(app_dir / "src")
    # -qq: some packages ship files for other Pythons that cannot compile; they never load.
    command = [str(python), "-m", "compileall", "-qq", "-j", "0", *map(str, folders)]
    subprocess.run(command, cwd=app_dir, check=False, capture_output=True)
