"""Errors that carry their own fix, so the CLI and startup can say how to recover.

VibetunerError
├── ConfigError           a setting is missing or unsafe
├── InvalidInput          a command's argument is not valid
├── DatabaseUnavailable   MongoDB (or Redis) did not answer at startup
├── EmbeddedServerError   the embedded database could not be started
├── MigrationError        a data migration could not be found, loaded or applied
└── ScaffoldError         a scaffolding step failed
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence


class VibetunerError(Exception):
    """An error a user can fix; `fix` says how, in one line."""

    exit_code = 1
    """The CLI's exit code: 2 for a setting, a missing service or a busy port (as for a usage
    error: the command cannot work until the user changes something), else 1."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\nFix: {self.fix}" if self.fix else self.message


class ConfigError(VibetunerError):
    exit_code = 2

    @classmethod
    def from_problems(cls, problems: Sequence[tuple[str, str]]) -> ConfigError:
        """One error for every problem at once: (what is wrong, the setting that fixes it)."""
        messages = list(dict.fromkeys(message for message, _ in problems))
        listed = "".join(f"\n  - {message}" for message in messages)
        return cls(
            messages[0] if len(messages) == 1 else f"{len(messages)} problems:{listed}",
            fix="Set "
            + ", ".join(dict.fromkeys(example for _, example in problems))
            + " in the environment or .env.",
        )


class InvalidInput(VibetunerError):
    """A command's argument is not valid: a usage error, with Typer's exit code for those."""

    exit_code = 2


class DatabaseUnavailable(VibetunerError):
    exit_code = 2


class EmbeddedServerError(VibetunerError):
    exit_code = 2


class ScaffoldError(VibetunerError):
    pass


class MigrationError(VibetunerError):
    pass


class ServiceUnavailable(VibetunerError):
    """A backing service failed during a request; answered with 503 and a Retry-After."""

    exit_code = 2

    def __init__(self, service: str, *, retry_after: int = 5) -> None:
        super().__init__(
            f"{service} is unavailable right now. Please try again in a few seconds.",
            fix=f"Check that {service} is running and reachable.",
        )
        self.service = service
        self.retry_after = retry_after


def run_reporting(command: Callable[[], object], *, debug: Callable[[], bool]) -> None:
    """Run a command so that errors print their cause and fix, never a traceback unless
    `debug()` (asked after the command ran: it may be the command's own --debug); Ctrl-C
    before the server took over its handling exits 130, as a stop."""
    try:
        command()
    except KeyboardInterrupt:
        sys.exit(130)
    except VibetunerError as exc:
        if debug():
            raise
        print_error(exc.message, exc.fix)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug():
            raise
        print_error(
            f"{type(exc).__name__}: {exc}",
            "Re-run with --debug (or VIBETUNER_DEBUG=1) to see the traceback.",
        )
        sys.exit(1)


def debug_env() -> bool:
    """VIBETUNER_DEBUG=1: tracebacks for every command, as --debug gives one."""
    return os.environ.get("VIBETUNER_DEBUG", "") not in ("", "0", "false")


def print_error(message: str, fix: str | None) -> None:
    from rich.console import Console  # rich: only when there is an error to print
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]Error:[/] {escape(message)}")
    if fix:
        console.print(f"[bold]Fix:[/] {escape(fix)}")
