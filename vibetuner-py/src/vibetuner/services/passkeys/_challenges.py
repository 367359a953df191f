"""One-time challenges: issued with the options, taken (once) when the answer comes back.

The session remembers which challenges it asked for (a few, for tabs open side by side); the
database holds each one and marks it used in a single atomic update the first time an answer
names it, before the answer is checked. So a challenge works once, fails for good when its
answer fails, and only ever in the session that asked for it.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId

from vibetuner.config import get_settings
from vibetuner.data.models.passkey import Ceremony, PasskeyChallenge
from vibetuner.i18n import _
from vibetuner.services.passkeys._relying_party import PasskeyFailed, PasskeyProblem
from vibetuner.services.sessions import Session

SESSION_KEYS: dict[Ceremony, str] = {
    "register": "_passkey_register",
    "authenticate": "_passkey_sign_in",
}
PENDING = 5
"""Challenges one session keeps open per ceremony (sign-in pages open in several tabs)."""
CHALLENGE_BYTES = 32


def b64url(raw: bytes) -> str:
    """base64url without padding, as WebAuthn writes binary values in JSON."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def issue_challenge(
    session: Session, ceremony: Ceremony, user_id: PydanticObjectId | None = None
) -> bytes:
    """A fresh challenge for `ceremony`, remembered by this session and stored until used."""
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    key = b64url(challenge)
    now = datetime.now(UTC)
    max_age = get_settings().passkey_challenge_max_age
    await PasskeyChallenge(
        key=key, ceremony=ceremony, challenge=challenge, user_id=user_id,
        expires_at=now + timedelta(seconds=max_age),
    ).insert()  # fmt: skip
    slot = SESSION_KEYS[ceremony]
    pending = [k for k in session.get(slot) or () if isinstance(k, str)]
    session[slot] = [*pending[-(PENDING - 1) :], key]
    return challenge


def _refused(problem: PasskeyProblem) -> PasskeyFailed:
    if problem is PasskeyProblem.USED_CHALLENGE:
        message = _("This passkey request was already used. Try again.")
    elif problem is PasskeyProblem.EXPIRED_CHALLENGE:
        message = _("This passkey request expired. Try again.")
    else:
        message = _("This passkey request did not start in this browser. Reload and try again.")
    return PasskeyFailed(problem, message)


async def take_challenge(
    session: Session, ceremony: Ceremony, challenge: bytes
) -> PasskeyChallenge:
    """The challenge an answer names, marked used; refused when this session did not ask
    for it, when it was used before (even by an answer that failed) or when it expired."""
    key = b64url(challenge)
    slot = SESSION_KEYS[ceremony]
    pending = [k for k in session.get(slot) or () if isinstance(k, str)]
    asked_here = key in pending
    if asked_here:
        pending.remove(key)
        session[slot] = pending
    collection = PasskeyChallenge.get_pymongo_collection()
    now = datetime.now(UTC)
    if asked_here:
        claimed = await collection.find_one_and_update(
            {"key": key, "ceremony": ceremony, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        if claimed is not None:
            taken: PasskeyChallenge = PasskeyChallenge.model_validate(claimed)
            return taken
    existing = await PasskeyChallenge.find_one({"key": key, "ceremony": ceremony})
    if existing is None:
        raise _refused(PasskeyProblem.NO_CHALLENGE)
    if existing.used_at is not None:
        raise _refused(PasskeyProblem.USED_CHALLENGE)
    if not asked_here:
        raise _refused(PasskeyProblem.NO_CHALLENGE)
    raise _refused(PasskeyProblem.EXPIRED_CHALLENGE)
