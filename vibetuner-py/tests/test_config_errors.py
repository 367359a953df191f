"""Bad settings are one ConfigError at load: each setting named, with where it was set (the
`.env` line, or the environment) and the form it needs, never its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibetuner.config import get_settings, reset_settings
from vibetuner.exceptions import ConfigError
from vibetuner.services.ratelimit import RateLimitRule


def _load(settings_env: pytest.MonkeyPatch, tmp_path: Path, text: str) -> ConfigError:
    env_file = tmp_path / ".env"
    env_file.write_text(text)
    settings_env.setenv("VIBETUNER_ENV_FILE", str(env_file))
    reset_settings()
    with pytest.raises(ConfigError) as caught:
        get_settings()
    return caught.value


def test_every_bad_value_is_named_with_its_line_and_form(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    error = _load(settings_env, tmp_path, (
        "# comment\n"
        "ENVIRONMENT=staging\n"
        "PORT=eighty\n"
        "DEBUG=maybe\n"
        "SUPPORTED_LANGUAGES=en,es\n"
        'BASE_URL="not a url"\n'
    ))  # fmt: skip
    assert error.exit_code == 2
    lines = error.message.splitlines()
    assert lines[0] == "5 settings are invalid:"
    assert lines[1:] == [
        "  - ENVIRONMENT (.env line 2) should be 'dev' or 'prod'",
        "  - DEBUG (.env line 4) should be true or false",
        "  - PORT (.env line 3) should be a whole number",
        '  - SUPPORTED_LANGUAGES (.env line 5) should be a JSON list, e.g. ["en", "es"]',
        "  - BASE_URL (.env line 6) should be an absolute http(s) URL, e.g. https://example.com",
    ]
    assert error.fix == "Correct them in the environment or .env."


def test_the_environment_is_named_as_the_source(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings_env.setenv("SESSION_MAX_AGE", "-1")
    error = _load(settings_env, tmp_path, "SESSION_MAX_AGE=60\n")
    assert error.message == (
        "Invalid setting: SESSION_MAX_AGE (in the environment) should be greater than 0."
    )


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("DATABASE_URL=mongodb//admin:hunter2@db/app", "hunter2"),
        ("REDIS_URL=redis//:hunter2@cache:6379/0", "hunter2"),
        ("S3_ENDPOINT_URL=s3:hunter2", "hunter2"),
        ("SECRET_KEY hunter2hunter2hunter2", "hunter2"),
        ("SMTP_PASSWORD='hunter2", "hunter2"),
    ],
)
def test_a_secret_value_is_never_printed(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, line: str, secret: str
) -> None:
    error = _load(settings_env, tmp_path, f"DEBUG=true\n{line}\n")
    assert secret not in str(error), str(error)
    assert "line 2" in error.message


def test_malformed_lines_are_refused_not_ignored(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    error = _load(settings_env, tmp_path, "DEBUG=true\nSECRET_KEY abc\nexport OK=1\nNOEQUALS\n")
    assert error.message.endswith(
        ".env has lines that are not NAME=value: line 2 (SECRET_KEY), line 4 (NOEQUALS)."
    )
    assert error.fix and "NAME=value" in error.fix


def test_a_bad_rate_limit_is_refused_at_load(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not a 500 at the first sign-in: the settings refuse it, with the accepted form."""
    error = _load(settings_env, tmp_path, "RATE_LIMIT_LOGIN_EMAIL=3 per hour\n")
    assert 'RATE_LIMIT_LOGIN_EMAIL (.env line 1) should be "<limit>/[<n>]<unit>"' in error.message
    assert '"3/15minutes"' in error.message
    settings_env.setenv("RATE_LIMIT_LOGIN_EMAIL", "3/15minutes")
    reset_settings()
    assert RateLimitRule.parse(get_settings().rate_limit_login_email).window == 900


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BASE_URL", "https://app.example.com"),
        ("BASE_URL", "http://localhost:8000/"),
        ("DATABASE_URL", "mongodb+srv://user:pw@cluster.example.net/app?retryWrites=true"),
        ("REDIS_URL", "rediss://:pw@cache.example.com:6380/0"),
        ("REDIS_URL", "unix:///run/redis.sock"),
        ("S3_ENDPOINT_URL", "http://127.0.0.1:8333"),
    ],
)
def test_real_urls_pass(settings_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    settings_env.setenv(name, value)
    reset_settings()
    assert getattr(get_settings(), name.lower()) == value


def test_worker_metrics_host_is_an_ip_address(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A name reached Granian as is, and `run worker` stopped on its ValueError."""
    error = _load(settings_env, tmp_path, "WORKER_METRICS_HOST=metrics.internal\n")
    assert error.message == (
        "Invalid setting: WORKER_METRICS_HOST (.env line 1) should be an IP address to listen "
        "on, e.g. 127.0.0.1 or 0.0.0.0."
    )
    settings_env.setenv("WORKER_METRICS_HOST", "localhost")
    reset_settings()
    assert get_settings().worker_metrics_host == "127.0.0.1"
