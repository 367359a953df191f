"""The registry both backends run tasks from: every task by name, the app's loaded once."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from vibetuner.exceptions import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("vibetuner.tasks")

APP_TASKS_MODULE = "app.tasks"
REGISTRY: dict[str, TaskSpec[Any, Any]] = {}


def register(definition: TaskSpec[P, R]) -> None:
    """Add a task; one registered again under the same name replaces the old one."""
    existing = REGISTRY.get(definition.name)
    if existing is not None and existing.fn is not definition.fn:
        logger.warning("task %s registered again; the newer definition wins", definition.name)
    REGISTRY[definition.name] = definition


@dataclass(eq=False)
class TaskSpec(Generic[P, R]):
    """A registered task: its function and how it runs (see `TaskDef` for enqueueing)."""

    fn: Callable[P, Awaitable[R]]
    name: str
    retries: int = 3
    backoff: float = 1.0
    timeout: float | None = None
    crontab: str | None = None
    keep_args: bool = True
    """False: a dead letter keeps none of the job's arguments (it carried a secret)."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        return self.fn(*args, **kwargs)

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff: `backoff`, then twice that, and so on."""
        return float(self.backoff * 2 ** max(attempt - 1, 0))


def app_task_names() -> list[str]:
    """Tasks the app defined, leaving out the framework's own (`vibetuner.*`)."""
    return [name for name in REGISTRY if not name.startswith("vibetuner.")]


def get_task(name: str) -> TaskSpec[Any, Any]:
    """Find a task by name, importing the framework's and the app's tasks first if needed."""
    if name not in REGISTRY:
        importlib.import_module("vibetuner.tasks._builtin")
        load_app_tasks()
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"No task named {name!r} is registered.",
            fix=f"Define it with @task in src/app/tasks/ (the `{APP_TASKS_MODULE}` module).",
        ) from None


def load_app_tasks(module: str = APP_TASKS_MODULE) -> bool:
    """Import the app's tasks so their decorators run; False when the app has none."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return False
        raise
    return True
