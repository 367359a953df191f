"""What `vibetuner run prod` loads before Granian forks its workers: the framework they import.

It loads while a child runs the command's checks (`server._launch`), or, where the command
runs in one process, while a child process scores SECRET_KEY, when the launcher would only
wait. The workers then start with it in memory (one copy, shared by all of them) instead of each
importing it after the fork. Importing defines things only: no threads, clients or settings.

The imports make about 100k objects that live as long as the process. Python's cyclic
collector would scan them over and over as they arrive (about an eighth of the import time)
and find nothing to free, so it is paused while they load. Then everything alive in the
launcher is frozen: moved out of the collector's view, so no collection in a worker scans it
again (nor writes to the memory pages it shares with the launcher). A cycle among those
objects is never freed; there are about 200 such objects at that point.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
from collections.abc import Callable, Iterator

FRAMEWORK = ("vibetuner.frontend._app", "vibetuner.frontend._middleware", "uvloop")
"""What every worker imports: its app's framework (and through it FastAPI, Starlette, Jinja2,
Beanie), and the event loop Granian builds for it (see `granian_options`)."""
REDIS = ("vibetuner.data._redis_clients",)
"""What an app with REDIS_URL imports too (coredis: sessions, cache, limits, jobs)."""


def preload_framework(*, redis: bool | Callable[[], bool] = False) -> None:
    """`redis` may be asked once the framework (with the settings) has loaded."""
    with paused_collector():
        preload(FRAMEWORK)
        if redis() if callable(redis) else redis:
            preload(REDIS)


def preload(names: tuple[str, ...]) -> None:
    for name in names:
        with contextlib.suppress(Exception):  # a worker imports it again and reports it
            importlib.import_module(name)


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """No collection while the block loads; what it loaded is frozen out of the collector's
    view after."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
