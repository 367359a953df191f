"""configure_logging: JSON lines in prod, text in dev, one handler however often it runs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from vibetuner.config import get_settings, reset_settings
from vibetuner.exceptions import ConfigError
from vibetuner.monitoring import configure_logging
from vibetuner.monitoring._request_id import request_id_var

logger = logging.getLogger("tests.monitoring.logging")


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """Restore the root logger's handlers and level after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _capture(env: pytest.MonkeyPatch, **values: str) -> io.StringIO:
    for name, value in values.items():
        env.setenv(name.upper(), value)
    reset_settings()
    handler = configure_logging(get_settings())
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


def test_json_lines_in_prod(env: pytest.MonkeyPatch, root: logging.Logger) -> None:
    stream = _capture(env, environment="prod", log_level="debug")
    token = request_id_var.set("req-7")
    try:
        logger.info("hello %s", "world", extra={"user_id": "u1"})
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed")
    finally:
        request_id_var.reset(token)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"timestamp", "level", "logger", "message", "request_id", "user_id"}
    assert first["message"] == "hello world" and first["level"] == "INFO"
    assert first["logger"] == "tests.monitoring.logging" and first["request_id"] == "req-7"
    assert first["timestamp"].endswith("+00:00") and first["user_id"] == "u1"
    assert second["level"] == "ERROR" and "ValueError: bad" in second["exc_info"]
    assert root.level == logging.DEBUG


def test_text_in_dev(env: pytest.MonkeyPatch, root: logging.Logger) -> None:
    stream = _capture(env)
    logger.warning("plain")
    line = stream.getvalue().strip()
    assert line.endswith("WARNING tests.monitoring.logging [-] plain")


def test_forced_json_in_dev(env: pytest.MonkeyPatch, root: logging.Logger) -> None:
    stream = _capture(env, log_format="json")
    logger.warning("x")
    assert json.loads(stream.getvalue())["message"] == "x"


def test_idempotent_and_server_loggers_propagate(
    env: pytest.MonkeyPatch, root: logging.Logger
) -> None:
    granian = logging.getLogger("_granian")
    granian.addHandler(logging.NullHandler())
    granian.propagate = False
    configure_logging(get_settings())
    stream = _capture(env)
    ours = [h for h in root.handlers if getattr(h, "_vibetuner_handler", False)]
    assert len(ours) == 1
    assert granian.handlers == [] and granian.propagate
    granian.info("worker up")
    assert "_granian [-] worker up" in stream.getvalue()


def test_unknown_level_is_a_config_error(env: pytest.MonkeyPatch, root: logging.Logger) -> None:
    env.setenv("LOG_LEVEL", "LOUD")
    reset_settings()
    with pytest.raises(ConfigError, match="LOUD"):
        configure_logging()
