"""How often sign-in links may be asked for and mailed: limits that slow strangers down
but cannot lock the owner of an address out.

- Per client network (an IPv4 address, or an IPv6 /64), `RATE_LIMIT_LOGIN_IP`: a 429.
- Per address from one client network, `RATE_LIMIT_LOGIN_EMAIL`: a 429 that only that
  network sees, so strangers elsewhere cannot use up the owner's requests.
- Mails per address, `RATE_LIMIT_LOGIN_MAILS`: past it nothing is sent and the answer looks
  the same (no 429 to learn from). A browser that signed in as the address before carries
  a device cookie and is not capped, so strangers who fill the cap do not keep its owner
  out; the links already mailed keep working too (see `KEEP_VALID`).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from vibetuner.config import get_settings
from vibetuner.data.models.user import User
from vibetuner.services.ratelimit import (
    RateLimitRule,
    client_network,
    enforce,
    get_rate_limit_store,
)

DEVICE_COOKIE = "vt_device"
DEVICE_MAX_AGE = 365 * 24 * 3600
MAX_PROOFS = 5
"""Addresses one browser is remembered for (people share computers, or keep two accounts)."""
_PROOF = re.compile(r"^[0-9a-f]{32}$")


def address_key(email: str) -> str:
    """The address as rate-limit keys and logs name it: a hash, not the address."""
    return hashlib.sha256(User.normalize_email(email).encode()).hexdigest()[:32]


def device_proof(email: str) -> str:
    """What the device cookie holds for `email`: an HMAC, so it names nobody and cannot be
    made up without SECRET_KEY."""
    secret = get_settings().secret_key.get_secret_value().encode()
    message = b"vibetuner-device:" + User.normalize_email(email).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _proofs(cookie: str | None) -> list[str]:
    return [p for p in (cookie or "").split(".")[:MAX_PROOFS] if _PROOF.match(p)]


def signed_in_here_before(cookie: str | None, email: str) -> bool:
    """Whether the device cookie says this browser has signed in as `email`."""
    expected = device_proof(email)
    return any(hmac.compare_digest(proof, expected) for proof in _proofs(cookie))


def remember_device(cookie: str | None, email: str) -> str:
    """The device cookie's new value after signing in as `email`: it first, then others."""
    proof = device_proof(email)
    others = [p for p in _proofs(cookie) if p != proof]
    return ".".join([proof, *others][:MAX_PROOFS])


async def may_mail_link(email: str, host: str | None, *, known_device: bool) -> bool:
    """Count a request for a link; raise a 429 over the client's own limits, and say False
    (send nothing) when the address had its mails for now."""
    settings = get_settings()
    network = client_network(host)
    await enforce(f"login:net:{network}", settings.rate_limit_login_ip)
    key = address_key(email)
    await enforce(f"login:email:{key}:{network}", settings.rate_limit_login_email)
    if known_device:
        return True
    rule = RateLimitRule.coerce(settings.rate_limit_login_mails)
    return (await get_rate_limit_store().hit(f"login:mails:{key}", rule)).allowed
