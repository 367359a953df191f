"""Strict parsing (issue #14, item 6): numbers taken from a URL, form, header or setting are
ASCII digits only. `"²".isdigit()` is True and `int("²")` raises, `int("٣")` is 3, and
`int()` refuses strings of more than 4300 digits: each of those was a 500 or a surprise."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse, Response

from tests.conftest import RedisServer
from tests.i18n.conftest import AppFactory, browser
from vibetuner.config import ascii_int
from vibetuner.i18n._negotiate import parse_accept_language
from vibetuner.services.broadcast import MemoryBroadcaster, RedisBroadcaster
from vibetuner.services.ratelimit import RateLimitRule

SOURCE = Path(__file__).resolve().parents[2] / "src" / "vibetuner"
UNICODE_DIGITS = ["²", "٣", "\uff13", "१२", "߂", "¹²³", "1²", "\U0001d7d9"]
DIGIT_TESTS = {"isdigit", "isdecimal", "isnumeric"}


def _unguarded_digit_tests(tree: ast.AST) -> list[int]:
    """Lines calling `x.isdigit()` (or isdecimal, isnumeric) without `x.isascii() and` first."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            receivers = {ast.dump(call.func.value) for call in node.values
                         if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                         and call.func.attr == "isascii"}  # fmt: skip
            guarded |= {id(call) for call in node.values
                        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and ast.dump(call.func.value) in receivers}  # fmt: skip
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in DIGIT_TESTS and id(node) not in guarded]  # fmt: skip


def test_the_source_reads_digits_as_ascii_only() -> None:
    """No bare `.isdigit()` and no `\\d` (which matches every script's digits) in a regex."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        found += [f"{path.relative_to(SOURCE)}:{line} .isdigit()"
                  for line in _unguarded_digit_tests(tree)]  # fmt: skip
        found += [f"{path.relative_to(SOURCE)}:{node.lineno} \\d" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and re.search(r"(?<!\\)\\d", node.value)]  # fmt: skip
    assert found == [], "use vibetuner.config.ascii_int or [0-9]: " + ", ".join(found)


@given(st.text(max_size=30) | st.sampled_from(UNICODE_DIGITS) | st.from_regex(r"[0-9]{1,25}"))
@settings(max_examples=300, derandomize=True, database=None)
def test_ascii_int_takes_ascii_digits_and_nothing_else(text: str) -> None:
    number = ascii_int(text)
    if re.fullmatch(r"[0-9]{1,18}", text, re.ASCII):
        assert number == int(text)
    else:
        assert number is None


@pytest.fixture
async def site(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The small app, plus a route that receives an upload."""
    from vibetuner.frontend._uploads import save_upload

    async def upload(request: Request) -> Response:
        result = await save_upload(request, field="file", prefix="tests")
        return JSONResponse({"key": result.blob.key}, status_code=201)

    async with make_app() as app:
        assert isinstance(app, FastAPI)
        app.add_api_route("/upload", upload, methods=["POST"])
        async with browser(app) as client:
            yield client


@pytest.mark.parametrize("expires", [*UNICODE_DIGITS, "1" * 5000, "-1", " 1", "1_000"])
async def test_a_blob_link_with_a_strange_expiry_is_a_403(
    site: httpx.AsyncClient, expires: str
) -> None:
    answer = await site.get("/blobs/tests/x.png", params={"exp": expires, "sig": "abc"})
    assert answer.status_code == 403, answer.text[:300]
    assert "incomplete or damaged" in answer.text


@pytest.mark.parametrize("length", ["²".encode("latin-1"), b"1" * 5000, b"-5", b"1e3"])
async def test_an_upload_with_a_strange_content_length_is_a_400(
    site: httpx.AsyncClient, length: bytes
) -> None:
    body = (
        b"--x\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n\r\nhi\r\n--x--\r\n"
    )
    headers = [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", length)]
    answer = await site.post("/upload", content=body, headers=headers)
    assert answer.status_code == 400, answer.text[:300]
    assert "Content-Length" in answer.text


@pytest.mark.parametrize("after", [*UNICODE_DIGITS, "٣-٣", "1-1\n", "9" * 30 + "-0", "1" * 5000])
async def test_last_event_id_with_strange_digits_replays_nothing(
    redis_server: RedisServer, after: str
) -> None:
    from vibetuner.data._redis_clients import close_client, open_client

    memory = MemoryBroadcaster(replay_size=3)
    await memory.publish("c", "one")
    client = open_client(redis_server.url)
    redis = RedisBroadcaster(client, replay_size=3)
    try:
        await redis.publish("c", "one")
        assert await memory.replay("c", after) == []
        assert await redis.replay("c", after) == []
    finally:
        await redis.aclose()
        await close_client(client)


@pytest.mark.parametrize("rule", ["\uff15/minute", "٣/minute", "5/²minutes", "1" * 5000 + "/s"])
def test_rate_limit_settings_take_ascii_digits(rule: str) -> None:
    with pytest.raises(ValueError, match="is not valid"):
        RateLimitRule.parse(rule)


def test_accept_language_quality_is_a_qvalue() -> None:
    """`q=inf` or `q=1e3` would outrank every honest entry; they count for nothing."""
    assert parse_accept_language("fr;q=inf, es;q=0.5, de;q=1e3, it;q=²") == ["es"]
    assert parse_accept_language("fr;q=0.8, es, de;q=1.000, it;q=0") == ["es", "de", "fr"]


@pytest.mark.parametrize("sent", ["²".encode("latin-1"), "ü".encode(), b"\xff" * 43])
async def test_a_csrf_token_that_is_not_ascii_is_a_403(sent: bytes) -> None:
    """hmac.compare_digest raises on non-ASCII strings: the token is compared as bytes."""
    from tests.frontend._apps import build, client
    from vibetuner.services.sessions import MemorySessionStore

    async with client(build(MemorySessionStore())) as http:
        await http.get("/token")  # a session, so the check applies
        answer = await http.post("/echo", data={"a": "1"}, headers=[(b"x-csrf-token", sent)])
    assert answer.status_code == 403
