"""How every client of the app's database connects: the TLS options from settings, the read
preference read-heavy queries use, and what a failed connection means, in one line with its fix.

The app, `vibetuner run`'s reachability check, `doctor` and the `db` commands all open their
clients with `client_options()`, so TLS set for one is TLS for all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from vibetuner.config import Settings, get_settings
from vibetuner.config import redact_url as _redact
from vibetuner.exceptions import DatabaseUnavailable

if TYPE_CHECKING:
    from pymongo.read_preferences import (
        Nearest,
        Primary,
        PrimaryPreferred,
        Secondary,
        SecondaryPreferred,
    )

    ReadPreference = Primary | PrimaryPreferred | Secondary | SecondaryPreferred | Nearest

_AUTH_FAILED = 18
_CLOSED_IN_TLS = ("eof occurred", "certificate required", "unknown ca", "bad certificate",
                  "connection is already closed", "reset by peer")  # fmt: skip
"""How a server that refuses our client certificate ends the connection: TLS 1.3 finishes
the client's side of the handshake first, so the refusal often reads as a closed socket."""
_UNAUTHORIZED = 13


def client_options(settings: Settings | None = None) -> dict[str, Any]:
    """pymongo's TLS keyword arguments for DATABASE_TLS_* (none set: the URL decides)."""
    settings = settings or get_settings()
    options: dict[str, Any] = {}
    tls = settings.database_tls_on
    if tls is not None:
        options["tls"] = tls
    if settings.database_tls_ca_file is not None:
        options["tlsCAFile"] = str(settings.database_tls_ca_file)
    if settings.database_tls_cert_key_file is not None:
        options["tlsCertificateKeyFile"] = str(settings.database_tls_cert_key_file)
    if settings.database_tls_cert_key_password is not None:
        password = settings.database_tls_cert_key_password.get_secret_value()
        options["tlsCertificateKeyFilePassword"] = password
    return options


def read_preference(settings: Settings | None = None) -> ReadPreference:
    """DATABASE_READ_PREFERENCE (with DATABASE_MAX_STALENESS_SECONDS) as pymongo's object."""
    from pymongo import read_preferences  # pymongo: kept off the CLI's startup

    settings = settings or get_settings()
    mode = settings.database_read_preference
    if mode == "primary":
        return read_preferences.Primary()
    staleness = settings.database_max_staleness_seconds
    kinds: dict[str, Callable[..., ReadPreference]] = {
        "primaryPreferred": read_preferences.PrimaryPreferred,
        "secondary": read_preferences.Secondary,
        "secondaryPreferred": read_preferences.SecondaryPreferred,
        "nearest": read_preferences.Nearest,
    }
    return kinds[mode](max_staleness=-1 if staleness is None else staleness)


def connect_failure(
    exc: Exception, url: str, settings: Settings | None = None
) -> DatabaseUnavailable:
    """One line that says why MongoDB at `url` refused us and how to fix it; never the
    password, never pymongo's topology dump."""
    from pymongo.errors import OperationFailure  # pymongo: kept off the CLI's startup

    settings = settings or get_settings()
    where = _redact(url)
    parts = urlsplit(url)
    if isinstance(exc, OperationFailure) and exc.code == _AUTH_FAILED:
        user = unquote(parts.username or "")
        message = f"MongoDB refused the user {user!r} in DATABASE_URL: authentication failed."
        fix = ("Check the user name and password in DATABASE_URL (percent-encode any of "
               ":/?#[]@ in them), and authSource= if the user lives in another database, "
               "e.g. ?authSource=admin.")  # fmt: skip
    elif isinstance(exc, OperationFailure) and exc.code == _UNAUTHORIZED:
        if parts.username:
            message = f"The user in DATABASE_URL lacks a permission: {_detail(exc)}."
            fix = "Grant that user readWrite on the app's database (and dbAdmin for indexes)."
        else:
            message = "MongoDB requires a user, and DATABASE_URL has none."
            fix = "Set DATABASE_URL=mongodb://USER:PASSWORD@host:27017/app?authSource=admin"
    else:
        message, fix = _transport(exc, where, settings, _tls_in_use(url, settings))
    return DatabaseUnavailable(_hide_password(message, parts.password), fix=fix)


def _tls_in_use(url: str, settings: Settings) -> bool:
    """TLS as the client will use it: the settings, else the URL (`+srv` defaults it on)."""
    if settings.database_tls_on is not None:
        return settings.database_tls_on
    parts = urlsplit(url)
    query = {k.lower(): v.lower() for k, v in parse_qsl(parts.query)}
    said = query.get("tls", query.get("ssl"))
    return said == "true" if said is not None else parts.scheme == "mongodb+srv"


def _transport(exc: Exception, where: str, settings: Settings, tls: bool) -> tuple[str, str]:
    """The TLS handshake or the network failed: say which, and what to set."""
    detail = _detail(exc)
    lowered = detail.lower()
    if "certificate_verify_failed" in lowered or "certificate verify failed" in lowered:
        if "hostname" in lowered or "ip address mismatch" in lowered:
            return (f"MongoDB's TLS certificate does not name the host in DATABASE_URL: {detail}",
                    "Connect with a host name the server's certificate lists.")  # fmt: skip
        ca = settings.database_tls_ca_file
        trusted = f"DATABASE_TLS_CA_FILE={ca}" if ca else "the system's CAs"
        return (
            f"MongoDB's TLS certificate is not trusted by {trusted}: {detail}",
            "Set DATABASE_TLS_CA_FILE to the CA that signed the server's certificate.",
        )
    if tls and any(sign in lowered for sign in _CLOSED_IN_TLS):
        cert = settings.database_tls_cert_key_file
        offered = f"the client certificate {cert}" if cert else "no client certificate"
        return (
            f"MongoDB closed the connection during TLS setup, having been offered {offered}: "
            f"{detail}",
            "If the server requires client certificates, set DATABASE_TLS_CERT_KEY_FILE to a "
            "certificate and key signed by a CA it trusts.",
        )
    fix = f"Check that MongoDB is running at DATABASE_URL={where}"
    if tls:
        fix += ", and that it speaks TLS there (else unset DATABASE_TLS*)."
    elif "reset by peer" in lowered or "eof occurred" in lowered:
        fix += ", and whether it requires TLS (set DATABASE_TLS_CA_FILE or DATABASE_TLS=true)."
    else:
        fix += ", or unset DATABASE_URL in dev to use the embedded database."
    return f"Cannot reach MongoDB: {detail}", fix


def _detail(exc: Exception) -> str:
    """pymongo's reason without its timeouts, topology or full reply."""
    from pymongo.errors import OperationFailure  # pymongo: kept off the CLI's startup

    if isinstance(exc, OperationFailure):
        reply = exc.details or {}
        return str(reply.get("errmsg") or exc).strip()
    text = str(exc)
    for tail in (" (configured timeouts", ", Timeout:", ", full error:"):
        text = text.split(tail, 1)[0]
    return text.strip()


def _hide_password(text: str, password: str | None) -> str:
    """The password never appears, whatever pymongo chose to quote (one of under 4 characters
    is left alone: masking it would garble the message, and it is no secret anyway)."""
    for form in {password or "", unquote(password or "")}:
        if len(form) >= 4:
            text = text.replace(form, "***")
    return text
