"""Reading settings: the forms values must take, and one error that names every bad setting,
where it was set (the environment, or the `.env` line) and the form it needs, never its value.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv.parser import parse_stream

from vibetuner.exceptions import ConfigError

HTTP_FORM = "an absolute http(s) URL, e.g. https://example.com"
URL_FORMS = {
    "http": HTTP_FORM,
    "mongodb": "a MongoDB URL, e.g. mongodb://127.0.0.1:27017/app",
    "redis": "a Redis URL, e.g. redis://127.0.0.1:6379/0",
}
_SCHEMES = {
    "http": ("http", "https"),
    "mongodb": ("mongodb", "mongodb+srv"),
    "redis": ("redis", "rediss", "unix"),
}
RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(
    r"^\s*(?P<limit>[0-9]{1,9})\s*/\s*(?P<count>[0-9]{0,9})\s*(?P<unit>second|minute|hour|day)s?\s*$",
    re.IGNORECASE,
)
RATE_FORM = (
    '"<limit>/[<n>]<unit>" with unit second, minute, hour or day, '
    'e.g. "5/minute", "3/15minutes", "10/second"'
)
_NAME = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)")
_PLAIN = {
    "bool_parsing": "should be true or false",
    "bool_type": "should be true or false",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_parsing": "should be a number",
    "missing": "is required",
}


def check_url(value: str, kind: str) -> str:
    """`value` when it is a URL of `kind` (http, mongodb, redis); else ValueError with the form.

    The message never repeats the value: a database or Redis URL may hold a password.
    """
    form = f"should be {URL_FORMS[kind]}"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (a bad port raises ValueError)
    except ValueError:
        raise ValueError(form) from None
    if parts.scheme.lower() not in _SCHEMES[kind] or any(ch.isspace() for ch in value):
        raise ValueError(form)
    if parts.scheme.lower() == "unix":
        if not parts.path:
            raise ValueError(form)
    elif not (parts.hostname if kind == "http" else parts.netloc):
        raise ValueError(form)
    return value


_STATIC_URL = re.compile(
    r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
    re.IGNORECASE,
)


def check_static_url(value: str) -> str:
    """A CDN origin for the assets: it goes into the CSP and every asset link as is."""
    check_url(value, "http")
    if not _STATIC_URL.match(value):
        raise ValueError(
            "should be an absolute http(s) URL, e.g. https://cdn.example.com (a host, "
            "optionally a port and a plain path; no credentials, query or fragment)"
        )
    return value.rstrip("/")


def check_listen_address(value: str) -> str:
    """An IP address a server can listen on; `localhost` is 127.0.0.1."""
    if value == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(
            "should be an IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0"
        ) from None


_SECRET_PARAM = re.compile(r"password|passphrase|secret|token|credential|mechanismproperties", re.I)
"""Query options that carry secrets: Redis `?password=`, MongoDB's
`tlsCertificateKeyFilePassword` and `authMechanismProperties` (AWS_SESSION_TOKEN:...)."""


def redact_url(url: str) -> str:
    """Hide a URL's secrets (MongoDB, Redis) so it can go into a message or a page: the
    password before the host, and the value of every query option named like a secret."""
    scheme, sep, rest = url.partition("://")
    address, mark, query = rest.partition("?")
    if "@" in address:
        credentials, _, host = address.rpartition("@")
        address = f"{credentials.split(':', 1)[0]}:***@{host}"
    if query:
        options = [option.partition("=") for option in query.split("&")]
        query = "&".join(
            f"{name}{eq}***" if eq and _SECRET_PARAM.search(name) else f"{name}{eq}{value}"
            for name, eq, value in options
        )
    return f"{scheme}{sep}{address}{mark}{query}"


def rate_limit_parts(text: str) -> tuple[int, int]:
    """`(limit, window seconds)` of a rate limit such as "3/15minutes"; ValueError otherwise."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"should be {RATE_FORM}")
    count = int(match["count"] or 1)
    limit = int(match["limit"])
    if limit < 1 or count < 1:
        raise ValueError(f"should be {RATE_FORM}, with a limit and a window of at least 1")
    return limit, count * RATE_UNITS[match["unit"].lower()]


JSON_EXAMPLES = {
    "supported_languages": '["en", "es"]',
    "trusted_proxies": '["10.0.0.0/8"]',
    "allowed_hosts": '["example.com", "*.example.com"]',
    "metrics_allow": '["10.0.0.0/8"]',
    "upload_allowed_types": '["image/png", "application/pdf"]',
    "oidc_providers": '[{"name": "corp", "issuer": "https://id.example.com", '
    '"client_id": "...", "client_secret": "..."}]',
}


def json_value(value: object, field: str | None) -> object:
    """Lists and objects come from the environment as JSON; anything else is left to pydantic."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        example = JSON_EXAMPLES.get(field or "", '["a", "b"]')
        raise ValueError(f"should be a JSON list, e.g. {example}") from None


def env_file_lines(path: Path | None) -> dict[str, int]:
    """The line each setting of `path` is on (the last one wins, as when it is read).

    A line that is not `NAME=value` (or a comment) is a ConfigError naming it, rather than a
    setting silently ignored.
    """
    if path is None:
        return {}
    lines: dict[str, int] = {}
    bad: list[str] = []
    try:
        with path.open(encoding="utf-8") as stream:
            for binding in parse_stream(stream):
                line = binding.original.line
                found = _NAME.match(binding.original.string)
                if binding.error or (binding.key is not None and binding.value is None):
                    bad.append(f"line {line}" + (f" ({found[1]})" if found else ""))
                elif binding.key is not None:
                    lines[binding.key.upper()] = line
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read {path}: {exc.__class__.__name__}.",
            fix=f"Save {path.name} as UTF-8 text, or remove it.",
        ) from exc
    if bad:
        lines_are = "a line that is" if len(bad) == 1 else "lines that are"
        raise ConfigError(
            f"{path} has {lines_are} not NAME=value: {', '.join(bad)}.",
            fix='Write each setting as NAME=value (quote a value with spaces: NAME="a b"), '
            "and start comments with #.",
        )
    return lines


def _where(name: str, env_file: Path | None, lines: Mapping[str, int]) -> str:
    if name in {key.upper() for key in os.environ}:
        return " (in the environment)"
    if env_file is not None and name in lines:
        return f" ({env_file.name} line {lines[name]})"
    return ""


def _problem(error: Mapping[str, Any], env_file: Path | None, lines: Mapping[str, int]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "is not valid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = _PLAIN.get(str(error.get("type")), message.replace("Input should", "should"))
    if not loc:
        return message.rstrip(".")
    name = loc[0].upper()
    inside = f" ({'.'.join(loc[1:])})" if len(loc) > 1 else ""
    return f"{name}{inside}{_where(name, env_file, lines)} {message.rstrip('.')}"


def settings_error(
    errors: Iterable[Mapping[str, Any]], env_file: Path | None, lines: Mapping[str, int]
) -> ConfigError:
    """One ConfigError for every invalid setting (pydantic's errors, read without inputs)."""
    problems = list(dict.fromkeys(_problem(error, env_file, lines) for error in errors))
    where = f"the environment or {env_file.name if env_file else '.env'}"
    if len(problems) == 1:
        return ConfigError(f"Invalid setting: {problems[0]}.", fix=f"Correct it in {where}.")
    listed = "".join(f"\n  - {problem}" for problem in problems)
    return ConfigError(
        f"{len(problems)} settings are invalid:{listed}", fix=f"Correct them in {where}."
    )
