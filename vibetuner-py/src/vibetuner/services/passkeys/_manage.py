"""A user's own passkeys: list, rename, remove. Every query names the owner, so one user
can never reach another's passkey by its id."""

from __future__ import annotations

from beanie import PydanticObjectId

from vibetuner.data.models.passkey import Passkey
from vibetuner.i18n import _
from vibetuner.services.passkeys._relying_party import PasskeyFailed, PasskeyProblem

MAX_PASSKEYS = 20
"""Passkeys one account can hold: enough for every device and security key a person has."""
NAME_MAX = 60


def clean_name(name: object) -> str:
    """The name a person gave the passkey, trimmed; a clear 422 when it is empty or long."""
    label = " ".join(name.split()) if isinstance(name, str) else ""
    if not label:
        message = _("Give the passkey a name, like the device it is on.")
        raise PasskeyFailed(PasskeyProblem.BAD_NAME, message)
    if len(label) > NAME_MAX:
        message = _("A passkey's name must be at most %(n)d characters.") % {"n": NAME_MAX}
        raise PasskeyFailed(PasskeyProblem.BAD_NAME, message)
    return label


def _owner(user_id: str | PydanticObjectId) -> PydanticObjectId:
    return user_id if isinstance(user_id, PydanticObjectId) else PydanticObjectId(user_id)


async def passkeys_of(user_id: str | PydanticObjectId) -> list[Passkey]:
    """The user's passkeys, oldest first."""
    found = Passkey.find({"user_id": _owner(user_id)}).sort("+created_at", "+_id")
    return await found.to_list()


async def get_passkey(user_id: str | PydanticObjectId, passkey_id: str) -> Passkey | None:
    """The user's passkey with this id, or None (also when it is someone else's)."""
    return await Passkey.find_one({"_id": PydanticObjectId(passkey_id), "user_id": _owner(user_id)})


async def rename_passkey(
    user_id: str | PydanticObjectId, passkey_id: str, name: object
) -> Passkey | None:
    """Give the user's passkey a new name; None when they have no such passkey."""
    label = clean_name(name)
    passkey = await get_passkey(user_id, passkey_id)
    if passkey is None:
        return None
    await passkey.set({"name": label})  # this field alone: never a sign-in's newer sign_count
    return passkey


async def remove_passkey(user_id: str | PydanticObjectId, passkey_id: str) -> bool:
    """Delete the user's passkey; False when they have no such passkey. Magic links and
    OAuth still sign them in, so removing the last one locks nobody out."""
    collection = Passkey.get_pymongo_collection()
    done = await collection.delete_one(
        {"_id": PydanticObjectId(passkey_id), "user_id": _owner(user_id)}
    )
    return done.deleted_count == 1
