"""Logging setup: JSON lines in prod, readable text in dev, request IDs on every line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from vibetuner.config import get_settings
from vibetuner.exceptions import ConfigError
from vibetuner.monitoring._request_id import NO_REQUEST, RequestIDFilter

if TYPE_CHECKING:
    from vibetuner.config import Settings

SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "_granian", "granian.access")
"""Servers give these their own handlers; we route them through ours for one format."""
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"
_MARK = "_vibetuner_handler"
SECRET_PATHS = re.compile(r"(/auth/magic/)[^\s/?#\"'<>\\]+")
"""Paths whose last segment is a credential (sign-in links): never written to a log."""
REDACTED = "[redacted]"
URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s/@]+@")
"""`mongodb://user:secret@host`, `redis://:secret@host`: the password is never written."""
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def redact(text: str) -> str:
    """The text with sign-in tokens in URLs, and passwords in connection URLs, replaced,
    wherever in a line they appear."""
    if "/auth/magic/" in text:
        text = SECRET_PATHS.sub(r"\1" + REDACTED, text)
    if "@" in text and "://" in text:
        text = URL_PASSWORD.sub(r"\1***@", text)
    return text


class JSONFormatter(logging.Formatter):
    """One JSON object per line; `extra=` fields are kept, tracebacks are one string."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NO_REQUEST),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal; tolerates records that never met the request filter."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = NO_REQUEST
        return redact(super().format(record))


def resolve_format(settings: Settings) -> Literal["json", "text"]:
    """`auto` means JSON in prod (for log shippers) and text in dev (for people)."""
    if settings.log_format == "auto":
        return "json" if settings.is_prod else "text"
    return settings.log_format


def configure_logging(settings: Settings | None = None) -> logging.Handler:
    """Install one stderr handler on the root logger; calling again replaces it, no duplicates.

    Server loggers (uvicorn, Granian) lose their own handlers and propagate to it, so every
    line shares one format. Other handlers (pytest's capture, an app's own) are left alone.
    """
    if settings is None:
        settings = get_settings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if resolve_format(settings) == "json" else TextFormatter())
    handler.addFilter(RequestIDFilter())
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(_level(settings.log_level))
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        for old in list(server_logger.handlers):
            server_logger.removeHandler(old)
        server_logger.propagate = True
        server_logger.setLevel(logging.NOTSET)
    return handler


def _level(name: str) -> int:
    level = logging.getLevelName(name.strip().upper())
    if not isinstance(level, int):
        raise ConfigError(
            f"LOG_LEVEL={name!r} is not a logging level.",
            fix="Use DEBUG, INFO, WARNING, ERROR or CRITICAL.",
        )
    return level
