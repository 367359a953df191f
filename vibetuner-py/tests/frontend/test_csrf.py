import json

import pytest

from tests.frontend._apps import build, client
from vibetuner.services.sessions import MemorySessionStore

# The error pages read the settings and templates: not those another test left behind.
pytestmark = pytest.mark.usefixtures("settings_env")


async def _session(http) -> str:  # type: ignore[no-untyped-def]
    return (await http.get("/token")).text


async def test_post_without_a_session_is_not_checked() -> None:
    async with client(build(MemorySessionStore())) as http:
        response = await http.post("/echo", data={"a": "1"})
    assert response.status_code == 200 and response.json() == {"a": "1"}


async def test_post_without_token_is_403() -> None:
    async with client(build(MemorySessionStore())) as http:
        await _session(http)
        page = await http.post("/echo", data={"a": "1"}, headers={"Accept": "text/html"})
        partial = await http.post("/echo", data={"a": "1"}, headers={"HX-Request": "true"})
        api = await http.post("/echo", content=b"{}", headers={"Content-Type": "application/json"})
    assert page.status_code == 403 and "<!DOCTYPE html>" in page.text
    assert "did not come from this site" in page.text
    assert partial.status_code == 403 and "<html" not in partial.text
    assert api.status_code == 403 and "did not come from this site" in api.json()["detail"]


async def test_wrong_token_is_403() -> None:
    async with client(build(MemorySessionStore())) as http:
        await _session(http)
        response = await http.post("/echo", data={"csrf_token": "x" * 43})
        header = await http.post("/echo", headers={"X-CSRF-Token": "nope"})
    assert response.status_code == 403 and header.status_code == 403


async def test_form_field_passes_and_the_app_still_reads_the_body() -> None:
    async with client(build(MemorySessionStore())) as http:
        token = await _session(http)
        response = await http.post("/echo", data={"csrf_token": token, "name": "Ada"})
    assert response.status_code == 200
    assert response.json() == {"csrf_token": token, "name": "Ada"}


async def test_htmx_header_passes() -> None:
    async with client(build(MemorySessionStore())) as http:
        token = await _session(http)
        response = await http.post(
            "/echo", data={"name": "Ada"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
        )
    assert response.status_code == 200 and response.json() == {"name": "Ada"}


async def test_multipart_field_passes_with_the_upload_intact() -> None:
    async with client(build(MemorySessionStore())) as http:
        token = await _session(http)
        response = await http.post(
            "/echo",
            data={"csrf_token": token},
            files={"avatar": ("a.txt", b"x" * 200_000, "text/plain")},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["csrf_token"] == token and "a.txt" in body["avatar"]


async def test_exempt_prefix_skips_the_check() -> None:
    async with client(build(MemorySessionStore())) as http:
        await _session(http)
        response = await http.post("/hooks/in", data={"event": "paid"})
    assert response.status_code == 200 and json.loads(response.text) == {"event": "paid"}


async def test_safe_methods_are_never_checked() -> None:
    async with client(build(MemorySessionStore())) as http:
        await _session(http)
        assert (await http.get("/peek")).status_code == 200
