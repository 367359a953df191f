"""Writes that race each other keep each other's fields: a user's own profile save, language
choice or sign-in never writes back the roles or `is_active` it read before an admin changed
them, a passkey's rename never writes back an older sign count, and each of two avatar uploads
at once removes the picture it replaced. In-process against a real SecantusDB; each race runs
several times, and each lost write the old whole-document saves made shows in most runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.frontend._apps import framework_app
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.testing import csrf_token_of, sign_in_as

TRIES = 16
SAVES = 8
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
async def app(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> AsyncIterator[FastAPI]:
    async with framework_app(
        settings_env, vibetuner_mongo, "races", SUPPORTED_LANGUAGES='["en","es"]',
        UPLOAD_MAX_BYTES="20000",
    ) as application:  # fmt: skip
        yield application


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _admin_change(email: str, change: str, turns: int) -> None:
    """The admin's change, after `turns` turns of the event loop: each try lands it at
    another point of the user's writes."""
    from vibetuner.services.users import change_roles, set_active

    for _ in range(turns):
        await asyncio.sleep(0)
    if change == "demote":
        await change_roles(email, remove=["admin"])
    else:
        await set_active(email, False)


async def _race(app: FastAPI, email: str, change: str, saving: str, turns: int) -> None:
    """The admin's change, and the user's own writes of `saving` in flight around it."""
    async with _client(app) as http:
        await sign_in_as(http, email, roles=["admin"])
        token = csrf_token_of((await http.get("/account")).text)

        async def save(n: int) -> None:
            field = ("name", f"Ada {n}") if saving == "/account/name" else ("language", "en")
            await http.post(saving, data={field[0]: field[1], "csrf_token": token})

        admin = _admin_change(email, change, turns)
        await asyncio.gather(admin, *(save(n) for n in range(SAVES)))


@pytest.mark.parametrize("change", ["demote", "deactivate"])
@pytest.mark.parametrize("saving", ["/account/name", "/i18n/language"])
async def test_an_admins_change_outlives_the_users_own_writes(
    app: FastAPI, change: str, saving: str
) -> None:
    from vibetuner.data.models.user import User

    for attempt in range(TRIES):
        email = f"{change}-{saving.strip('/').replace('/', '-')}-{attempt}@example.com"
        await _race(app, email, change, saving, turns=attempt * 7)
        user = await User.by_email(email)
        assert user is not None
        kept = "admin" not in user.roles if change == "demote" else not user.is_active
        assert kept, f"try {attempt}: {saving} wrote back what the admin had just changed"


@pytest.mark.parametrize("change", ["demote", "deactivate"])
async def test_a_sign_in_never_writes_back_the_roles_it_read(
    app: FastAPI, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin's change lands between the sign-in's read of the account and its write of
    `last_login_at` (a window of one round trip, which concurrency alone rarely hits)."""
    from vibetuner.data.models.user import User

    email = f"{change}-at-sign-in@example.com"
    async with _client(app) as http:
        await sign_in_as(http, email, roles=["admin"])
    read = User.get

    async def read_then_change(*args: Any, **kwargs: Any) -> Any:
        found = await read(*args, **kwargs)
        if isinstance(found, User) and found.email == email:
            monkeypatch.setattr(User, "get", read)
            await _admin_change(email, change, turns=0)
        return found

    monkeypatch.setattr(User, "get", read_then_change)
    async with _client(app) as http:
        await sign_in_as(http, email)
    user = await User.by_email(email)
    assert user is not None
    assert ("admin" not in user.roles) if change == "demote" else not user.is_active


async def test_a_rename_never_writes_back_an_older_sign_count(app: FastAPI) -> None:
    from vibetuner.data.models.passkey import Passkey
    from vibetuner.data.models.user import User
    from vibetuner.services.passkeys import rename_passkey

    async with _client(app) as http:
        await sign_in_as(http, "ada@example.com")
    user = await User.by_email("ada@example.com")
    assert user is not None and user.id is not None
    passkey = Passkey(user_id=user.id, credential_id="cred", public_key=b"key", name="Phone")
    await passkey.insert()
    collection = Passkey.get_pymongo_collection()

    async def signed_in() -> None:  # what a sign-in's conditional update does to the count
        await collection.update_one({"_id": passkey.id}, {"$inc": {"sign_count": 1}})

    renames = (rename_passkey(user.id, str(passkey.id), f"Phone {n}") for n in range(20))
    await asyncio.gather(*renames, *(signed_in() for _ in range(20)))
    stored = await Passkey.get(passkey.id)
    assert stored is not None and stored.sign_count == 20


async def test_each_of_two_uploads_at_once_removes_the_avatar_it_replaced(app: FastAPI) -> None:
    from vibetuner.data.models.blob import Blob
    from vibetuner.data.models.user import User

    async with _client(app) as http:
        await sign_in_as(http, "ada@example.com")
        token = csrf_token_of((await http.get("/account")).text)

        async def upload() -> int:
            response = await http.post(
                "/account/avatar", data={"csrf_token": token},
                files={"avatar": ("me.png", PNG, "image/png")},
            )  # fmt: skip
            return response.status_code

        for _ in range(3):
            assert set(await asyncio.gather(*(upload() for _ in range(10)))) == {303}
    user = await User.by_email("ada@example.com")
    assert user is not None and user.avatar_url is not None
    blobs = await Blob.find({"owner": user.id}).to_list()
    assert [str(blob.id) for blob in blobs] == [user.avatar_url.rsplit("/", 1)[1]]
