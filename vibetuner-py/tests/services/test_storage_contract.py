"""One contract for every storage backend: local files (served by the /blobs route over real
HTTP) and S3 (a real SeaweedFS server). Presigned URLs are fetched with plain httpx."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from vibetuner.services.storage import (
    BlobNotFound,
    InvalidBlobKey,
    LocalStorage,
    S3Storage,
    Storage,
    new_key,
    set_storage,
)
from vibetuner.testing._s3 import REGION, S3Server
from vibetuner.testing.idp._server import BackgroundServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BAD_KEYS = ["../escape", "a/../../b", "/etc/passwd", "a\x00b", "", ".hidden", "a//b", "a/",
            "a\\b", "x" * 600, "ok/.."]  # fmt: skip


def blob_app() -> FastAPI:
    from vibetuner.frontend._errors import install_error_handlers
    from vibetuner.frontend._routes import blobs

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(blobs.router)
    return app


@pytest.fixture(scope="module")
def blob_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(blob_app()) as server:
        yield server


@pytest.fixture(params=["local", "s3"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, blob_server: BackgroundServer
) -> AsyncIterator[Storage]:
    store: Storage
    if request.param == "local":
        store = LocalStorage(
            tmp_path / "blobs", secret="contract-secret", base_url=f"{blob_server.url}/blobs"
        )
    else:
        s3: S3Server = request.getfixturevalue("vibetuner_s3")
        store = S3Storage(
            s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=REGION,
            access_key_id=s3.access_key,
            secret_access_key=s3.secret_key,
        )
    set_storage(store)
    try:
        yield store
    finally:
        set_storage(None)
        await store.close()


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


async def test_put_bytes_then_get(storage: Storage) -> None:
    key = new_key("contract", "image/png")
    stored = await storage.put(key, PNG, content_type="image/png", filename="me.png")
    assert (stored.key, stored.size, stored.content_type) == (key, len(PNG), "image/png")
    assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
    blob = await storage.get(key)
    assert (blob.content, blob.content_type) == (PNG, "image/png")
    assert blob.content_disposition.startswith("inline")
    assert await storage.exists(key)


async def test_put_stream_is_hashed_while_streaming(storage: Storage) -> None:
    parts = [bytes([n]) * 100_000 for n in range(5)]
    key = new_key("contract")
    stored = await storage.put(key, stream(*parts), content_type="application/pdf")
    whole = b"".join(parts)
    assert (stored.size, stored.sha256) == (len(whole), hashlib.sha256(whole).hexdigest())
    assert (await storage.get(key)).content == whole


async def test_a_stream_larger_than_one_part(storage: Storage) -> None:
    """Over 8 MB goes to S3 as a multipart upload; the result is the same bytes."""
    chunk = b"0123456789abcdef" * 65536  # 1 MiB
    key = new_key("contract")
    stored = await storage.put(key, stream(*[chunk] * 9), content_type="text/plain")
    assert stored.size == 9 * len(chunk)
    assert (await storage.get(key)).content == chunk * 9


async def test_put_replaces(storage: Storage) -> None:
    key = new_key("contract")
    await storage.put(key, b"first", content_type="text/plain")
    await storage.put(key, b"second", content_type="text/plain")
    assert (await storage.get(key)).content == b"second"


async def test_delete_and_missing(storage: Storage) -> None:
    key = new_key("contract")
    await storage.put(key, b"gone soon")
    await storage.delete(key)
    assert not await storage.exists(key)
    with pytest.raises(BlobNotFound):
        await storage.get(key)
    await storage.delete(key)  # unknown keys are ignored


async def test_keys_lists_one_folder_sorted(storage: Storage) -> None:
    folder = new_key("contract-list")
    for name in ("b.txt", "a.txt", "deeper/c.txt"):
        await storage.put(f"{folder}/{name}", b"x", content_type="text/plain")
    await storage.put(f"{folder}-sibling/a.txt", b"x")  # shares the prefix, not the folder
    assert await storage.keys(folder) == [
        f"{folder}/a.txt", f"{folder}/b.txt", f"{folder}/deeper/c.txt"
    ]  # fmt: skip
    await storage.delete(f"{folder}/a.txt")
    assert await storage.keys(folder) == [f"{folder}/b.txt", f"{folder}/deeper/c.txt"]
    assert await storage.keys(new_key("contract-empty")) == []
    with pytest.raises(InvalidBlobKey):
        await storage.keys("../escape")


async def test_a_failing_stream_leaves_nothing(storage: Storage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("client went away")

    key = new_key("contract")
    with pytest.raises(RuntimeError, match="went away"):
        await storage.put(key, broken())
    assert not await storage.exists(key)


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_unsafe_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        await storage.put(key, b"x")
    for operation in (storage.get, storage.delete, storage.exists):
        with pytest.raises(InvalidBlobKey):
            await operation(key)
    with pytest.raises(InvalidBlobKey):
        await storage.url(key, expires_in=60)


async def test_url_serves_the_bytes_over_http(storage: Storage) -> None:
    key = new_key("contract", "image/png")
    await storage.put(key, PNG, content_type="image/png")
    pdf_key = new_key("contract", "application/pdf")
    await storage.put(pdf_key, b"%PDF-1.7 fake", content_type="application/pdf", filename="r.pdf")
    async with httpx.AsyncClient() as http:
        image = await http.get(await storage.url(key, expires_in=60))
        document = await http.get(await storage.url(pdf_key, expires_in=60))
    assert image.status_code == 200, image.text
    assert (image.content, image.headers["content-type"]) == (PNG, "image/png")
    assert document.status_code == 200
    assert document.headers["content-disposition"].startswith('attachment; filename="r.pdf"')


async def test_expired_url_is_rejected(storage: Storage) -> None:
    key = new_key("contract")
    await storage.put(key, b"short-lived", content_type="text/plain")
    url = await storage.url(key, expires_in=4)
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 200
        while (expired := await http.get(url)).status_code == 200:  # until it expires
            assert time.monotonic() < deadline, "the URL never expired"
            await asyncio.sleep(0.25)
    assert expired.status_code == 403
    assert "expired" in expired.text.lower()


async def test_tampered_url_is_rejected(storage: Storage) -> None:
    key = new_key("contract")
    other = new_key("contract")
    await storage.put(key, b"mine", content_type="text/plain")
    await storage.put(other, b"not yours", content_type="text/plain")
    url = await storage.url(key, expires_in=60)
    async with httpx.AsyncClient() as http:
        swapped = await http.get(url.replace(key, other))
    assert swapped.status_code == 403
    assert b"not yours" not in swapped.content
    if isinstance(storage, LocalStorage):  # S3 checks its own signatures
        async with httpx.AsyncClient() as http:
            odd = await http.get(url.split("&sig=")[0] + "&sig=%C2%B2")
        assert odd.status_code == 403, "compare_digest raises on non-ASCII: was a 500"


async def test_expiry_out_of_range(storage: Storage) -> None:
    with pytest.raises(ValueError, match="between"):
        await storage.url(new_key("contract"), expires_in=0)
    with pytest.raises(ValueError, match="between"):
        await storage.url(new_key("contract"), expires_in=8 * 24 * 3600)


async def test_check_reports_the_backend(storage: Storage) -> None:
    assert (await storage.check()).startswith(storage.name)


async def test_download_writes_the_blob_a_chunk_at_a_time(storage: Storage, tmp_path: Path) -> None:
    """A backup restored from storage can be larger than memory: it never is held whole."""
    import tracemalloc

    size = 12 * 1024 * 1024
    content = hashlib.sha256(b"seed").digest() * (size // 32)
    await storage.put("backups/big.tar.gz", content)
    target = tmp_path / "big.tar.gz"
    tracemalloc.start()
    try:
        await storage.download("backups/big.tar.gz", target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert target.read_bytes() == content
    assert peak < size // 4, f"peak {peak} bytes while downloading {size}"
    with pytest.raises(BlobNotFound):
        await storage.download("backups/none.tar.gz", tmp_path / "none")
    assert not (tmp_path / "none").exists()
