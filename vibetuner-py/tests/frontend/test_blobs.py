"""The local backend's `/blobs` route: signed, expiring links; safe headers; no escapes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from vibetuner.services.storage import InvalidBlobKey, LocalStorage, new_key, set_storage

SECRET = "route-test-secret"


def blob_app() -> FastAPI:
    from vibetuner.frontend._errors import install_error_handlers
    from vibetuner.frontend._routes import blobs

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(blobs.router)
    return app


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[LocalStorage]:
    store = LocalStorage(tmp_path / "blobs", secret=SECRET)
    set_storage(store)
    yield store
    set_storage(None)


@pytest.fixture
async def http(storage: LocalStorage) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=blob_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_signed_link_serves_with_safe_headers(
    storage: LocalStorage, http: httpx.AsyncClient
) -> None:
    key = new_key("docs", "text/plain")
    await storage.put(key, b"<script>alert(1)</script>", content_type="text/html",
                      filename="évil page.html")  # fmt: skip
    url = await storage.url(key, expires_in=60)
    assert url.startswith(f"/blobs/{key}?")
    response = await http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="evil page.html"')
    assert "filename*=UTF-8''%C3%A9vil%20page.html" in disposition
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert (await http.head(url)).status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda q: {**q, "sig": q["sig"].swapcase()}, "not valid"),
        (lambda q: {**q, "exp": str(int(q["exp"]) + 3600)}, "not valid"),
        (lambda q: {"exp": q["exp"]}, "incomplete"),
        (lambda q: {"sig": q["sig"]}, "incomplete"),
        (lambda q: {**q, "exp": "soon"}, "incomplete"),
    ],
)
async def test_tampered_links_are_403_with_a_reason(
    storage: LocalStorage, http: httpx.AsyncClient, change: object, message: str
) -> None:
    key = new_key("docs")
    await storage.put(key, b"secret")
    parts = urlsplit(await storage.url(key, expires_in=60))
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    changed = change(query)  # type: ignore[operator]
    response = await http.get(parts.path, params=changed)
    assert response.status_code == 403
    assert message in response.json()["detail"]
    assert b"secret" not in response.content


async def test_expired_link_is_403_as_a_page(
    storage: LocalStorage, http: httpx.AsyncClient
) -> None:
    key = new_key("docs")
    await storage.put(key, b"old")
    expires = int(time.time()) - 1
    signature = storage.signer.signature(key, expires)
    response = await http.get(
        f"/blobs/{key}", params={"exp": expires, "sig": signature},
        headers={"Accept": "text/html"},
    )  # fmt: skip
    assert response.status_code == 403
    assert "This link has expired" in response.text


async def test_signed_link_to_nothing_is_404(
    storage: LocalStorage, http: httpx.AsyncClient
) -> None:
    assert (await http.get(await storage.url(new_key("docs"), expires_in=60))).status_code == 404


async def test_path_tricks_never_reach_the_disk(
    storage: LocalStorage, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    (tmp_path / "outside.txt").write_text("private")
    for key in ("../outside.txt", "%2e%2e/outside.txt", ".meta/x.json", "a/%00b"):
        response = await http.get(f"/blobs/{key}", params={"exp": "9999999999", "sig": "x"})
        assert response.status_code in (403, 404)
        assert b"private" not in response.content


async def test_a_symlink_out_of_the_root_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.txt").write_text("private")
    storage.root.mkdir(parents=True, exist_ok=True)
    (storage.root / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(InvalidBlobKey):
        await storage.get("link/x.txt")
    with pytest.raises(InvalidBlobKey):
        await storage.put("link/y.txt", b"escape")
    assert not (tmp_path / "outside" / "y.txt").exists()


async def test_route_is_404_when_storage_is_not_local(http: httpx.AsyncClient) -> None:
    from vibetuner.services.storage import S3Storage

    set_storage(S3Storage("some-bucket", endpoint_url="http://127.0.0.1:9"))
    response = await http.get("/blobs/docs/x", params={"exp": "9999999999", "sig": "x"})
    assert response.status_code == 404
