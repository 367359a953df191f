"""The avatar example on the profile page: upload, the stable redirecting URL, replacement,
and refusals rendered in place for htmx; in-process against a real SecantusDB."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI

from tests.frontend._apps import framework_app
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.testing import csrf_token_of, sign_in_as

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
GIF = b"GIF89a" + bytes(500)


@pytest.fixture
async def app(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> AsyncIterator[FastAPI]:
    async with framework_app(
        settings_env, vibetuner_mongo, "avatar", UPLOAD_MAX_BYTES="20000"
    ) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await sign_in_as(http, "ada@example.com", name="Ada")
        yield http


async def upload(
    client: httpx.AsyncClient, content: bytes, content_type: str, *, htmx: bool = False
) -> httpx.Response:
    page = await client.get("/account")
    token = csrf_token_of(page.text)
    headers = {"HX-Request": "true", "Accept": "text/html"} if htmx else {}
    return await client.post(
        "/account/avatar", data={"csrf_token": token}, headers=headers,
        files={"avatar": ("me.png", content, content_type)},
    )  # fmt: skip


async def test_profile_page_has_the_upload_form(client: httpx.AsyncClient) -> None:
    page = await client.get("/account")
    assert page.status_code == 200
    assert 'id="profile-avatar"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert 'name="csrf_token"' in page.text


async def test_upload_sets_a_stable_url_that_redirects_to_the_bytes(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    from vibetuner.data.models.blob import Blob
    from vibetuner.data.models.user import User

    response = await upload(client, PNG, "image/png")
    assert response.status_code == 303
    user = await User.by_email("ada@example.com")
    assert user is not None and user.avatar_url is not None
    assert user.avatar_url.startswith("/account/avatar/")
    blob = await Blob.get(PydanticObjectId(user.avatar_url.rsplit("/", 1)[1]))
    assert blob is not None and blob.owner == user.id
    assert (blob.size, blob.sha256) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert (blob.content_type, blob.original_name) == ("image/png", "me.png")
    assert (tmp_path / ".vibetuner" / "blobs" / blob.key).read_bytes() == PNG

    profile = await client.get("/account")
    assert f'src="{user.avatar_url}"' in profile.text
    redirect = await client.get(user.avatar_url)
    assert redirect.status_code == 302
    assert redirect.headers["location"].startswith(f"/blobs/{blob.key}?exp=")
    image = await client.get(redirect.headers["location"])
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.headers["content-disposition"].startswith("inline")


async def test_a_new_avatar_replaces_the_old_one(client: httpx.AsyncClient) -> None:
    from vibetuner.data.models.blob import Blob
    from vibetuner.services.storage import get_storage

    await upload(client, PNG, "image/png")
    first = await Blob.find_one({"content_type": "image/png"})
    assert first is not None
    response = await upload(client, GIF, "image/gif", htmx=True)
    assert response.status_code == 200
    assert 'id="profile-avatar"' in response.text and "data-avatar" in response.text
    assert await Blob.get(first.id) is None
    assert not await get_storage().exists(first.key)
    assert await Blob.find({"content_type": "image/gif"}).count() == 1


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"%PDF-1.7 not a picture", "application/pdf", 415, "PDF files are not accepted"),
        (b"\x89PNG\r\n\x1a\n" + bytes(30_000), "image/png", 413, "too large"),
    ],
)
async def test_refusals_render_in_place_for_htmx(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int, message: str
) -> None:
    response = await upload(client, content, content_type, htmx=True)
    assert response.status_code == status
    assert 'id="profile-avatar"' in response.text
    assert "data-error" in response.text and message in response.text


async def test_refusal_without_htmx_is_an_error_page(client: httpx.AsyncClient) -> None:
    response = await upload(client, b"<svg/>", "image/svg+xml")
    assert response.status_code == 415


async def test_upload_without_csrf_token_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/account/avatar", files={"avatar": ("me.png", PNG, "image/png")})
    assert response.status_code == 403


async def test_unknown_or_foreign_avatar_ids_are_404(client: httpx.AsyncClient) -> None:
    from vibetuner.data.models.blob import Blob

    other = await Blob(key="docs/" + "a" * 32, size=1, sha256="0" * 64,
                       content_type="application/pdf").insert()  # fmt: skip
    for path in ("/account/avatar/not-an-id", f"/account/avatar/{PydanticObjectId()}",
                 f"/account/avatar/{other.id}"):  # fmt: skip
        assert (await client.get(path)).status_code == 404
