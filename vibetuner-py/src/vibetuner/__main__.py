"""The `vibetuner` command's entry point, also run by `python -m vibetuner`.

The CLI's imports (Typer, pydantic, the settings, every command) make tens of thousands of
objects that live as long as the command. Python's cyclic collector would scan them again and
again as they load and find nothing to free, about 7% of the import time. So it is paused while
they load, and they are then frozen out of its view.

`vibetuner run prod` first splits in two (`server._launch`): this process goes on in a child
while the launcher loads what its workers import.
"""

from __future__ import annotations

import gc
import sys

from vibetuner.server import _launch


def main() -> None:
    if _launch.wanted(sys.argv):  # checks and imports at once, before either has begun
        _launch.split()
    gc.disable()
    try:
        from vibetuner.cli import main as run  # the whole CLI, loaded with the collector paused
    finally:
        gc.freeze()
        gc.enable()
    run()


if __name__ == "__main__":
    main()
