"""What `vibetuner run prod` loads before Granian forks its workers: the framework they import.

It loads while a child process scores SECRET_KEY, when the launcher would only wait; the
workers then start with it in memory (one copy, shared by all of them) instead of each
importing it after the fork. Importing defines things only: no threads, clients or settings.
"""

from __future__ import annotations

import contextlib
import importlib

FRAMEWORK = ("vibetuner.frontend._app", "vibetuner.frontend._middleware")
"""Every worker's app imports these (and through them FastAPI, Starlette, Jinja2, Beanie)."""


def preload_framework() -> None:
    for name in FRAMEWORK:
        with contextlib.suppress(Exception):  # a worker imports it again and reports the error
            importlib.import_module(name)
