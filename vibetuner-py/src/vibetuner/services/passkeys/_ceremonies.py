"""The two WebAuthn ceremonies, checked by the `webauthn` package: registering a passkey
for a signed-in user, and signing in with one.

Each starts with options (a challenge the session remembers) and ends with the browser's
signed answer. The answer's challenge is taken before anything else is checked, so it
works once. Signing in checks the signature counter (a counter that does not grow means a
cloned authenticator, or a replayed answer) and stores it with the backup flags.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo.errors import DuplicateKeyError

from vibetuner.data.models.passkey import Passkey
from vibetuner.data.models.user import User
from vibetuner.i18n import _
from vibetuner.services.passkeys._challenges import b64url, issue_challenge, take_challenge
from vibetuner.services.passkeys._manage import MAX_PASSKEYS, clean_name
from vibetuner.services.passkeys._relying_party import (
    PasskeyFailed,
    PasskeyProblem,
    RelyingParty,
)
from vibetuner.services.sessions import Session

if TYPE_CHECKING:
    from webauthn.helpers.structs import AuthenticationCredential, RegistrationCredential

Parsed = TypeVar("Parsed")


def _malformed() -> PasskeyFailed:
    return PasskeyFailed(
        PasskeyProblem.MALFORMED, _("This passkey answer could not be read. Try again.")
    )


def _parse(parse: Callable[[Any], Parsed], credential: Any) -> Parsed:
    """The browser's JSON as the package's structure; anything else is a plain 400."""
    from webauthn.helpers.exceptions import WebAuthnException  # webauthn: on a passkey ceremony

    if not isinstance(credential, dict):
        raise _malformed()
    try:
        return parse(credential)
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise _malformed() from exc


def _challenge_of(client_data_json: bytes) -> bytes:
    from webauthn.helpers import parse_client_data_json  # webauthn: on a passkey ceremony

    try:
        return parse_client_data_json(client_data_json).challenge
    except Exception as exc:  # the package raises bare errors for bad JSON here
        raise _malformed() from exc


def _not_verified() -> PasskeyFailed:
    message = _("This passkey's signature could not be verified. Try again.")
    return PasskeyFailed(PasskeyProblem.BAD_SIGNATURE, message)


def _as_json(options: Any) -> dict[str, Any]:
    from webauthn import options_to_json  # webauthn: on a passkey ceremony

    loaded: dict[str, Any] = json.loads(options_to_json(options))
    return loaded


async def begin_registration(session: Session, rp: RelyingParty, user: User) -> dict[str, Any]:
    """Options for `navigator.credentials.create()`: a discoverable credential (a passkey)
    for this user, never one of the authenticators they already registered."""
    import webauthn  # webauthn: on a passkey ceremony
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        AuthenticatorTransport,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    assert user.id is not None
    existing = await Passkey.find({"user_id": user.id}).to_list()
    if len(existing) >= MAX_PASSKEYS:
        raise _too_many()
    known = {t.value for t in AuthenticatorTransport}
    exclude = [
        PublicKeyCredentialDescriptor(
            id=_b64decode(p.credential_id),
            transports=[AuthenticatorTransport(t) for t in p.transports if t in known],
        )
        for p in existing
    ]
    challenge = await issue_challenge(session, "register", user.id)
    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.email,
        user_id=user.id.binary,
        user_display_name=user.display_name,
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=exclude,
    )
    return _as_json(options)


def _too_many() -> PasskeyFailed:
    message = _("You have %(n)d passkeys, the most one account can have. Remove one first.")
    return PasskeyFailed(PasskeyProblem.TOO_MANY, message % {"n": MAX_PASSKEYS})


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


async def finish_registration(
    session: Session, rp: RelyingParty, user: User, credential: Any, name: str
) -> Passkey:
    """Store the passkey the browser created, under `name`, once its answer checks out."""
    import webauthn  # webauthn: on a passkey ceremony
    from webauthn.helpers import parse_registration_credential_json
    from webauthn.helpers.exceptions import WebAuthnException
    from webauthn.helpers.structs import CredentialDeviceType

    label = clean_name(name)
    parsed: RegistrationCredential = _parse(parse_registration_credential_json, credential)
    claimed = await take_challenge(
        session, "register", _challenge_of(parsed.response.client_data_json)
    )
    if claimed.user_id != user.id:
        message = _("This passkey request was for another account. Reload and try again.")
        raise PasskeyFailed(PasskeyProblem.NO_CHALLENGE, message)
    if await Passkey.find({"user_id": user.id}).count() >= MAX_PASSKEYS:
        raise _too_many()
    try:
        verified = webauthn.verify_registration_response(
            credential=parsed,
            expected_challenge=claimed.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError, IndexError) as exc:
        # KeyError, TypeError: the library reads the new key's COSE fields unchecked
        raise _not_verified() from exc
    assert user.id is not None
    passkey = Passkey(
        user_id=user.id,
        credential_id=b64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t.value for t in parsed.response.transports or ()],
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        aaguid=verified.aaguid,
        name=label,
    )
    try:
        return await passkey.insert()
    except DuplicateKeyError as exc:
        message = _("This passkey is already registered.")
        raise PasskeyFailed(PasskeyProblem.ALREADY_REGISTERED, message) from exc


async def begin_sign_in(session: Session, rp: RelyingParty) -> dict[str, Any]:
    """Options for `navigator.credentials.get()`: any passkey for this site (the browser
    lists them, or offers them in the email field's autofill)."""
    import webauthn  # webauthn: on a passkey ceremony
    from webauthn.helpers.structs import UserVerificationRequirement

    challenge = await issue_challenge(session, "authenticate")
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return _as_json(options)


def _unknown() -> PasskeyFailed:
    message = _(
        "This passkey is not registered here. Sign in another way, then add it on your "
        "account page."
    )
    return PasskeyFailed(PasskeyProblem.UNKNOWN_CREDENTIAL, message)


def _regressed() -> PasskeyFailed:
    message = _(
        "This passkey's counter went backwards, as a copied passkey's would. Sign in another "
        "way, and remove this passkey if you did not copy it."
    )
    return PasskeyFailed(PasskeyProblem.COUNTER_REGRESSION, message)


async def finish_sign_in(
    session: Session, rp: RelyingParty, credential: Any
) -> tuple[User, Passkey]:
    """The user whose passkey signed this session's challenge; the passkey's counter,
    backup state and last use are stored. Signing the session in is the caller's."""
    import webauthn  # webauthn: on a passkey ceremony
    from webauthn.helpers import parse_authentication_credential_json, parse_authenticator_data
    from webauthn.helpers.exceptions import WebAuthnException

    parsed: AuthenticationCredential = _parse(parse_authentication_credential_json, credential)
    claimed = await take_challenge(
        session, "authenticate", _challenge_of(parsed.response.client_data_json)
    )
    passkey = await Passkey.find_one({"credential_id": b64url(parsed.raw_id)})
    if passkey is None:
        raise _unknown()
    handle = parsed.response.user_handle
    if handle and handle != passkey.user_id.binary:
        raise _unknown()
    try:
        counter = parse_authenticator_data(parsed.response.authenticator_data).sign_count
    except (WebAuthnException, ValueError) as exc:
        raise _malformed() from exc
    if (counter > 0 or passkey.sign_count > 0) and counter <= passkey.sign_count:
        raise _regressed()
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed,
            expected_challenge=claimed.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
    except (WebAuthnException, ValueError) as exc:
        raise _not_verified() from exc
    now = datetime.now(UTC)
    # Only over the counter this answer was checked against: two answers that both carry
    # the next count cannot both count.
    stored = await Passkey.get_pymongo_collection().update_one(
        {"_id": passkey.id, "sign_count": passkey.sign_count},
        {"$set": {"sign_count": verified.new_sign_count, "backed_up": verified.credential_backed_up,
                  "last_used_at": now}},
    )  # fmt: skip
    if stored.matched_count != 1:
        raise _regressed()
    passkey.sign_count, passkey.backed_up = verified.new_sign_count, verified.credential_backed_up
    passkey.last_used_at = now
    user = await User.get(passkey.user_id)
    if user is None:
        raise _unknown()
    return user, passkey
