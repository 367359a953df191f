"""Everything production lacks, checked before anything starts.

It lives in the highest layer that loads no web framework, so `vibetuner run prod` checks
while its workers' imports load (see `server._preload`) and the app checks again at creation.
"""

from __future__ import annotations

from collections.abc import Callable

from vibetuner.config import Settings
from vibetuner.exceptions import ConfigError
from vibetuner.services.email import email_problems
from vibetuner.tasks._queue import jobs_problems


def startup_problems(
    settings: Settings, *, jobs: bool = False, meanwhile: Callable[[], None] | None = None
) -> list[tuple[str, str]]:
    """Settings, mail (sign-in links go out by email) and, with `jobs`, Redis for the app's
    background jobs; empty outside prod. `meanwhile` runs while SECRET_KEY is scored."""
    if not settings.is_prod:
        return []
    problems = settings.production_problems(meanwhile) + email_problems(settings)
    return problems + (jobs_problems(settings) if jobs else [])


def check_startup(
    settings: Settings, *, jobs: bool = False, meanwhile: Callable[[], None] | None = None
) -> None:
    """Refuse to start with one error naming every problem `startup_problems` finds."""
    problems = startup_problems(settings, jobs=jobs, meanwhile=meanwhile)
    if problems:
        raise ConfigError.from_problems(problems)
