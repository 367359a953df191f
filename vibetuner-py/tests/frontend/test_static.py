import hashlib
import os
from pathlib import Path

import httpx
import pytest

from tests.frontend._apps import raw_get
from vibetuner.frontend._static import IMMUTABLE, HashedStatics


@pytest.fixture
def statics(tmp_path: Path) -> HashedStatics:
    root = tmp_path / "statics"
    (root / "css").mkdir(parents=True)
    (root / "css" / "bundle.css").write_text("body{color:red}")
    (tmp_path / "secret.txt").write_text("do not serve")
    return HashedStatics(root, watch=True)


def _client(statics: HashedStatics) -> httpx.AsyncClient:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = Starlette(routes=[Mount("/static", app=statics)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_url_is_content_hashed(statics: HashedStatics) -> None:
    digest = hashlib.sha256(b"body{color:red}").hexdigest()[:12]
    assert statics.url_for("css/bundle.css") == f"/static/{digest}/css/bundle.css"
    assert statics.url_for("/css/bundle.css") == f"/static/{digest}/css/bundle.css"


async def test_hashed_file_is_served_immutable(statics: HashedStatics) -> None:
    async with _client(statics) as client:
        response = await client.get(statics.url_for("css/bundle.css"))
        head = await client.head(statics.url_for("css/bundle.css"))
    assert response.status_code == 200
    assert response.text == "body{color:red}"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"].startswith("text/css")
    assert head.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/abc/../secret.txt",
        "/static/abc/%2e%2e/secret.txt",
        "/static/abc/css/../../secret.txt",
        "/static/abc/..%2fsecret.txt",
        "/static/abc/%2fetc%2fpasswd",
        "/static/abc/css/missing.css",
        "/static/abc/",
        "/static/",
        "/static/abc/css",
    ],
)
async def test_traversal_and_unknown_files_are_404(statics: HashedStatics, path: str) -> None:
    async with _client(statics) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert "do not serve" not in response.text


@pytest.mark.parametrize(
    "spelling", ["css/./bundle.css", "css//bundle.css", "./css/bundle.css", "css/x/../bundle.css"]
)
async def test_only_the_canonical_spelling_of_a_file_is_served(
    statics: HashedStatics, spelling: str
) -> None:
    """Servers pass `./` and `//` through: each spelling would be hashed and remembered."""
    digest = statics.url_for("css/bundle.css").split("/")[2]
    sent = await raw_get(statics, f"/{digest}/{spelling}")
    assert sent[0]["status"] == 404


async def test_stale_hash_redirects_to_the_current_url(statics: HashedStatics) -> None:
    async with _client(statics) as client:
        response = await client.get("/static/000000000000/css/bundle.css")
    assert response.status_code == 307
    assert response.headers["location"] == statics.url_for("css/bundle.css")


async def test_only_get_and_head(statics: HashedStatics) -> None:
    async with _client(statics) as client:
        response = await client.post(statics.url_for("css/bundle.css"))
    assert response.status_code == 405


def test_watch_mode_sees_rebuilt_files(statics: HashedStatics) -> None:
    before = statics.url_for("css/bundle.css")
    target = statics.directory / "css" / "bundle.css"
    target.write_text("body{color:blue}")
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert statics.url_for("css/bundle.css") != before


def test_prod_mode_hashes_once(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("1")
    statics = HashedStatics(tmp_path, watch=False)
    first = statics.url_for("a.js")
    (tmp_path / "a.js").write_text("22")
    assert statics.url_for("a.js") == first


def test_missing_file_url_answers_404(statics: HashedStatics) -> None:
    assert statics.url_for("js/nope.js") == "/static/missing/js/nope.js"
