"""The upload helper over real HTTP: a full app (Granian, in a thread) with a real database,
streaming files into local storage; 413, 415 and 400 with clear messages."""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from pymongo import MongoClient
from starlette.responses import JSONResponse, Response

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend._uploads import accepted_type, safe_name, sniff
from vibetuner.testing.idp._server import BackgroundServer

LIMIT = 256 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(100_000)
PDF = b"%PDF-1.7\n" + secrets.token_bytes(2_000)
_ENV_VARS = ("REDIS_URL", "SECRET_KEY", "DEBUG", "DATABASE_NAME", "BASE_URL")


def upload_app() -> FastAPI:
    from vibetuner import create_app
    from vibetuner.frontend._middleware import setup_middleware
    from vibetuner.frontend._uploads import save_upload

    app = create_app()
    setup_middleware(app)

    @app.post("/upload")
    async def upload(request: Request) -> Response:
        result = await save_upload(request, field="file", prefix="tests")
        blob = result.blob
        body = {"key": blob.key, "size": blob.size, "sha256": blob.sha256,
                "content_type": blob.content_type, "original_name": blob.original_name,
                "fields": result.fields}  # fmt: skip
        return JSONResponse(body, status_code=201)

    return app


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def database_url(vibetuner_mongo: EmbeddedMongo) -> str:
    return f"{vibetuner_mongo.url}_uploads_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def server(project: Path, database_url: str) -> Iterator[BackgroundServer]:
    from vibetuner.config import reset_settings
    from vibetuner.frontend._templating import get_templates
    from vibetuner.services.sessions import get_session_store
    from vibetuner.services.storage import set_storage

    with pytest.MonkeyPatch.context() as env:
        for name in _ENV_VARS:
            env.delenv(name, raising=False)
        env.setenv("VIBETUNER_ENV_FILE", os.devnull)
        env.setenv("ENVIRONMENT", "dev")
        env.setenv("PROJECT_ROOT", str(project))
        env.setenv("DATABASE_URL", database_url)
        env.setenv("STORAGE_BACKEND", "local")
        env.setenv("UPLOAD_MAX_BYTES", str(LIMIT))
        reset_settings()
        get_templates.cache_clear()
        get_session_store.cache_clear()
        set_storage(None)
        try:
            with BackgroundServer(upload_app(), lifespan=True) as running:
                yield running
        finally:
            set_storage(None)
            get_session_store.cache_clear()
            get_templates.cache_clear()
            reset_settings()


@pytest.fixture
async def http(server: BackgroundServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        yield client


def blobs_on_disk(project: Path) -> list[Path]:
    root = project / ".vibetuner" / "blobs"
    return [p for p in root.rglob("*") if p.is_file() and ".meta" not in p.parts]


def stored_count(database_url: str) -> int:
    with MongoClient(database_url) as client:
        return client.get_default_database()["blobs"].count_documents({})


async def test_upload_is_streamed_to_storage_and_recorded(
    http: httpx.AsyncClient, project: Path, database_url: str
) -> None:
    files = {"file": ("../../etc/holiday.png", PNG, "image/png")}
    response = await http.post("/upload", files=files, data={"caption": "Beach"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert (body["size"], body["content_type"]) == (len(PNG), "image/png")
    assert body["original_name"] == "holiday.png"
    assert body["fields"] == {"caption": "Beach"}
    assert body["key"].startswith("tests/") and body["key"].endswith(".png")
    assert "holiday" not in body["key"] and ".." not in body["key"]
    on_disk = project / ".vibetuner" / "blobs" / body["key"]
    assert on_disk.read_bytes() == PNG
    with MongoClient(database_url) as client:
        record = client.get_default_database()["blobs"].find_one({"key": body["key"]})
    assert record is not None
    assert (record["sha256"], record["size"]) == (body["sha256"], len(PNG))
    assert (record["content_type"], record["original_name"]) == ("image/png", "holiday.png")


async def test_declared_type_is_checked_against_the_bytes(http: httpx.AsyncClient) -> None:
    pdf = await http.post("/upload", files={"file": ("r.pdf", PDF, "application/pdf")})
    assert pdf.status_code == 201 and pdf.json()["content_type"] == "application/pdf"
    unlabelled = await http.post("/upload", files={"file": ("x", PNG, "application/octet-stream")})
    assert unlabelled.status_code == 201 and unlabelled.json()["content_type"] == "image/png"


@pytest.mark.parametrize(
    ("name", "content", "declared", "message"),
    [
        ("page.html", b"<html><script>alert(1)</script></html>", "text/html", "not accepted"),
        ("fake.png", b"<html><script>alert(1)</script></html>", "image/png", "not a valid PNG"),
        ("pic.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "SVG files"),
    ],
)
async def test_wrong_type_is_415(
    http: httpx.AsyncClient, database_url: str, name: str, content: bytes, declared: str,
    message: str,
) -> None:  # fmt: skip
    before = stored_count(database_url)
    response = await http.post("/upload", files={"file": (name, content, declared)})
    assert response.status_code == 415
    assert message in response.json()["detail"]
    assert stored_count(database_url) == before


async def test_oversize_by_content_length_is_413_before_reading(
    http: httpx.AsyncClient, project: Path, database_url: str
) -> None:
    before = (len(blobs_on_disk(project)), stored_count(database_url))
    big = b"\x89PNG\r\n\x1a\n" + bytes(4 * LIMIT)
    response = await http.post("/upload", files={"file": ("big.png", big, "image/png")})
    assert response.status_code == 413
    assert response.json()["detail"] == "The file is too large: the limit is 256 KB."
    assert (len(blobs_on_disk(project)), stored_count(database_url)) == before


async def test_oversize_file_within_the_form_allowance_is_413_while_streaming(
    http: httpx.AsyncClient, project: Path, database_url: str
) -> None:
    """Content-Length passes (limit plus form overhead), the file's own count does not."""
    before = (len(blobs_on_disk(project)), stored_count(database_url))
    big = b"\x89PNG\r\n\x1a\n" + bytes(LIMIT)
    response = await http.post("/upload", files={"file": ("big.png", big, "image/png")})
    assert response.status_code == 413
    assert (len(blobs_on_disk(project)), stored_count(database_url)) == before


async def test_oversize_chunked_body_is_413_while_streaming(
    http: httpx.AsyncClient, project: Path
) -> None:
    """No Content-Length: the bytes are counted as they arrive; nothing is buffered whole."""
    boundary = "vt" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()  # fmt: skip
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield head + b"\x89PNG\r\n\x1a\n"
        for _ in range(16):
            sent += 64 * 1024
            yield bytes(64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    before = len(blobs_on_disk(project))
    response = await http.post("/upload", content=body(), headers=headers)
    assert response.status_code == 413
    assert len(blobs_on_disk(project)) == before
    assert not list((project / ".vibetuner" / "blobs" / ".tmp").glob("*.part"))


async def test_html_clients_get_an_error_page(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/upload", files={"file": ("a.html", b"<p>hi</p>", "text/html")},
        headers={"Accept": "text/html"},
    )  # fmt: skip
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("text/html")
    assert "HTML files are not accepted here." in response.text


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message"),
    [
        ({"data": {"caption": "no file"}, "files": {"other": ("a.png", PNG, "image/png")}},
         400, "Choose a file"),
        ({"files": {"file": ("", b"", "application/octet-stream")}}, 400, "Choose a file"),
        ({"files": {"file": ("empty.png", b"", "image/png")}}, 400, "empty"),
        ({"json": {"file": "not a form"}}, 415, "multipart/form-data"),
        ({"content": b"--x\r\ngarbage", "headers": {
            "Content-Type": "multipart/form-data; boundary=x"}}, 400, "damaged"),
    ],
)  # fmt: skip
async def test_bad_forms_get_clear_answers(
    http: httpx.AsyncClient, request_kwargs: dict[str, object], status: int, message: str
) -> None:
    response = await http.post("/upload", **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_sniffing_and_names() -> None:
    assert sniff(PNG) == "image/png"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"\x00\x00\x00\x1cftypavif\x00\x00") == "image/avif"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert accepted_type("image/png; charset=x", PNG, ["image/png"]) == "image/png"
    assert safe_name("C:\\Users\\ada\\me.png") == "me.png"
    assert safe_name("a\x00b\nc.png") == "a_b_c.png"


async def test_huge_declared_length_is_refused_without_reading_the_body(
    server: BackgroundServer,
) -> None:
    """A 1 GB Content-Length is answered at once; the body is never read."""
    import asyncio

    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = (
        "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 1073741824\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nAccept: application/json\r\n\r\n"
    )
    writer.write(head.encode() + b"--x\r\n")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")
