"""Errors that carry their own fix, so the CLI and startup can say how to recover.

VibetunerError
├── ConfigError           a setting is missing or unsafe
├── DatabaseUnavailable   MongoDB did not answer at startup
├── EmbeddedServerError   the embedded database could not be started
├── MigrationError        a data migration could not be found, loaded or applied
└── ScaffoldError         a scaffolding step failed
"""

from __future__ import annotations


class VibetunerError(Exception):
    """An error a user can fix; `fix` says how, in one line."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}\nFix: {self.fix}" if self.fix else self.message


class ConfigError(VibetunerError):
    pass


class DatabaseUnavailable(VibetunerError):
    pass


class EmbeddedServerError(VibetunerError):
    pass


class ScaffoldError(VibetunerError):
    pass


class MigrationError(VibetunerError):
    pass


class ServiceUnavailable(VibetunerError):
    """A backing service failed during a request; answered with 503 and a Retry-After."""

    def __init__(self, service: str, *, retry_after: int = 5) -> None:
        super().__init__(
            f"{service} is unavailable right now. Please try again in a few seconds.",
            fix=f"Check that {service} is running and reachable.",
        )
        self.service = service
        self.retry_after = retry_after
