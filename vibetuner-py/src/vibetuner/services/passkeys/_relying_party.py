"""Who the passkeys belong to (the relying party: BASE_URL's host), and why a ceremony failed.

WebAuthn names the site by its host name and refuses an IP address. So the RP ID is
BASE_URL's host; in development without BASE_URL it is the host the page was opened at,
and at 127.0.0.1 passkeys are not offered: `http://localhost:PORT` is the same server.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from vibetuner.config import Settings
from vibetuner.exceptions import VibetunerError
from vibetuner.i18n import _


class PasskeyProblem(StrEnum):
    """Why a passkey ceremony was refused; each is a 4xx with a sentence a person can act on."""

    UNAVAILABLE = "unavailable"
    NO_CHALLENGE = "no-challenge"
    USED_CHALLENGE = "used-challenge"
    EXPIRED_CHALLENGE = "expired-challenge"
    MALFORMED = "malformed"
    UNKNOWN_CREDENTIAL = "unknown-credential"
    BAD_SIGNATURE = "bad-signature"
    COUNTER_REGRESSION = "counter-regression"
    ALREADY_REGISTERED = "already-registered"
    TOO_MANY = "too-many"
    BAD_NAME = "bad-name"
    INACTIVE = "inactive"


STATUS = {
    PasskeyProblem.UNAVAILABLE: 409,
    PasskeyProblem.ALREADY_REGISTERED: 409,
    PasskeyProblem.TOO_MANY: 409,
    PasskeyProblem.BAD_NAME: 422,
    PasskeyProblem.INACTIVE: 403,
}


class PasskeyFailed(VibetunerError):
    """A ceremony that cannot go on: `problem` says which check refused it (a 4xx)."""

    def __init__(self, problem: PasskeyProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem

    @property
    def status_code(self) -> int:
        return STATUS.get(self.problem, 400)


@dataclass(frozen=True)
class RelyingParty:
    id: str
    """The RP ID: a host name, never an IP address."""
    origin: str
    """The origin pages run at (`https://example.com`), which the browser signs."""
    name: str


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def relying_party(settings: Settings, request_origin: str) -> RelyingParty:
    """BASE_URL's host and origin; in development without BASE_URL, the request's own."""
    origin = settings.canonical_origin
    if origin is None and not settings.is_prod:
        parts = urlsplit(request_origin)
        origin = f"{parts.scheme}://{parts.netloc.lower()}" if parts.hostname else None
    host = urlsplit(origin or "").hostname
    if origin is None or not host:
        message = _("Passkeys need BASE_URL, the site's address, to be set.")
        raise PasskeyFailed(PasskeyProblem.UNAVAILABLE, message)
    if _is_ip(host):
        if ipaddress.ip_address(host).is_loopback:
            port = urlsplit(origin).port
            local = f"http://localhost{f':{port}' if port else ''}"
            message = _(
                "Passkeys need the site's name, not an IP address: open %(url)s instead."
            ) % {"url": local}
        else:
            message = _("Passkeys need the site's name, not an IP address, in BASE_URL.")
        raise PasskeyFailed(PasskeyProblem.UNAVAILABLE, message)
    return RelyingParty(id=host, origin=origin, name=settings.project_name)


def unavailable_here(settings: Settings, request_origin: str) -> str | None:
    """Why a page opened at `request_origin` cannot use passkeys, or None when it can (its
    host is the RP ID): pages show the passkey buttons only where they can work."""
    try:
        rp = relying_party(settings, request_origin)
    except PasskeyFailed as exc:
        return exc.message
    if (urlsplit(request_origin).hostname or "").lower() != rp.id:
        return _("Passkeys work at %(url)s.") % {"url": rp.origin}
    return None


def offered_at(settings: Settings, request_origin: str) -> bool:
    """Whether a page opened at `request_origin` can use passkeys."""
    return unavailable_here(settings, request_origin) is None
