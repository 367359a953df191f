"""`make bench` first builds each app's production assets, showing the build as it goes."""

import os
from pathlib import Path

from rich.console import Console
from vibetuner.cli._progress import Steps, run_streaming

from bench._procs import RunFailed

BUILD = ["npm", "run", "build-prod"]


def build(app_dirs: list[Path]) -> None:
    """`npm run build-prod` in each app, one progress line each; the output's tail on failure."""
    console = Console(stderr=True, highlight=False)
    with Steps(console, len(app_dirs)) as steps:
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
