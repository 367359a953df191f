"""Request IDs: kept when well-formed, generated otherwise, on the response and on log lines."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from tests.monitoring.conftest import build, client
from vibetuner.monitoring import RequestIDFilter, RequestIDMiddleware, get_request_id

logger = logging.getLogger("tests.monitoring")


async def test_incoming_id_is_kept() -> None:
    async with client(build()) as http:
        response = await http.get("/posts/1", headers={"X-Request-ID": "edge-42.a_b"})
    assert response.headers["x-request-id"] == "edge-42.a_b"


@pytest.mark.parametrize("incoming", [None, "x" * 129, "bad id", "a/b", "ünï".encode(), ""])
async def test_missing_or_invalid_id_is_replaced(incoming: str | bytes | None) -> None:
    raw = incoming.encode() if isinstance(incoming, str) else incoming
    headers = [] if raw is None else [(b"x-request-id", raw)]
    async with client(build()) as http:
        response = await http.get("/posts/1", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.headers.get_list("x-request-id") == [response.headers["x-request-id"]]


async def test_every_log_line_of_the_request_carries_it(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(get_request_id())
        logger.warning("inside %s", scope["request_id"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    caplog.handler.addFilter(RequestIDFilter())
    transport = httpx.ASGITransport(app=RequestIDMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        await http.get("/", headers={"X-Request-ID": "trace-1"})
        await http.get("/")
    logger.warning("outside")
    ids = [getattr(r, "request_id", None) for r in caplog.records if r.name == logger.name]
    assert ids[0] == "trace-1" == seen[0]
    assert ids[1] == seen[1] and len(seen[1]) == 32
    assert ids[2] == "-" and get_request_id() == "-"


async def test_a_prebuilt_response_message_is_not_mutated() -> None:
    start: Message = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=RequestIDMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for _ in range(3):
            assert "x-request-id" in (await http.get("/")).headers
    assert start["headers"] == [(b"a", b"1")]


def _ids_after_fork(queue: Any) -> None:
    from vibetuner.monitoring._request_id import _next_id

    queue.put([_next_id() for _ in range(3)])


def test_generated_ids_are_unique_and_differ_in_forked_workers() -> None:
    import multiprocessing

    from vibetuner.monitoring._request_id import _next_id

    ours = [_next_id() for _ in range(1000)]
    assert len(set(ours)) == 1000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ours)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_ids_after_fork, args=(queue,))
    child.start()
    theirs = queue.get(timeout=10)
    child.join(10)
    assert theirs[0][:16] != ours[0][:16], "a forked worker gets its own prefix"
