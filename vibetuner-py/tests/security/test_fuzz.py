"""Fuzzing (issue #14, item 6): the demo app `vibetuner scaffold new` renders, with every
route it serves (its own and the framework's), driven in-process by an anonymous and a
signed-in visitor with generated paths, query strings, headers and bodies. No answer may be
a 500; a deliberate 503 (a cap, readiness) is fine. schemathesis checks the documented
inputs (tests/test_scaffold.py); this reaches what no schema describes."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi import APIRouter
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Mount, Route

from tests._scaffold import VIBETUNER, clean_env
from tests.conftest import _SETTING_VARS, _reset_caches
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.testing import csrf_token_of, sign_in_as

BASE = "http://testserver"
STREAMS = frozenset({"/posts/live", "/__vibetuner__/livereload"})
"""Endless event streams: an in-process client would wait for their end forever."""
METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
NASTY = ["", "²", "٣", "\uff13", "-1", "0", "1" * 5000, "9" * 40, "1e3", "nan", "null", "[]",
         "{}", "%00", "%ZZ", "%", "/es//evil.example", "//evil.example", "\\\\evil", "../../x",
         "/ünï/😀", "a" * 10_000, "65f0c0ffee0ddba11c0ffee0", "000000000000000000000000",
         "<script>", "'\"", "\u202e", "\ud7ff", "true", "on"]  # fmt: skip
KNOWN = {"language": ["en", "es", "EN", "xx"], "next": ["/ünï/😀", "/posts", "/es//evil.example"],
         "email": ["fuzz@example.com", "a@b", "x" * 400 + "@example.com"], "exp": ["4102444800"],
         "sig": ["abc", "A" * 43], "before": ["65f0c0ffee0ddba11c0ffee0"], "content": ["hi"],
         "name": ["Ada"], "display_name": ["Ada"], "csrf_token": [], "code": [], "state": [],
         "error": ["access_denied"], "token": [], "q": []}  # fmt: skip
"""The names the routes read, and values that get past their first checks."""
FIELDS = list(KNOWN)
HEADERS = ["accept", "accept-language", "content-type", "cookie", "hx-request", "hx-current-url",
           "hx-target", "hx-trigger", "hx-boosted", "last-event-id", "x-csrf-token", "range",
           "if-none-match", "if-modified-since", "authorization", "x-forwarded-for",
           "x-forwarded-proto", "x-forwarded-host", "x-request-id", "origin", "referer",
           "content-length", "host", "accept-encoding"]  # fmt: skip
HEADER_VALUES = {"hx-request": ["true"], "hx-boosted": ["true"], "range": ["bytes=0-1",
                 "bytes=5-1", "bytes=-0", "bytes=²-", "bytes=0-1,0-1,0-1"],
                 "last-event-id": ["1-1", "5"], "content-length": ["²", "0", "99999999999"],
                 "accept": ["application/json", "text/html", "*/*"],
                 "accept-language": ["es;q=inf", "en;q=0.5"], "hx-current-url": [
                 "http://testserver/ünï?x=²"], "x-forwarded-proto": ["https"]}  # fmt: skip
TYPES = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
         "multipart/form-data", "application/json", "text/plain", "multipart/form-data; boundary=",
         "image/png", ""]  # fmt: skip
LATIN1 = st.characters(codec="latin-1", exclude_characters="\r\n\x00")


@dataclass
class Demo:
    transport: httpx.ASGITransport
    anonymous: httpx.AsyncClient
    member: httpx.AsyncClient
    csrf: str
    routes: list[tuple[str, list[str], dict[str, str]] | None]
    """(path format, methods, {parameter: regex}) of every route; None for a raw path."""


def _routes_of(routes: list[BaseRoute]) -> list[tuple[str, list[str], dict[str, str]]]:
    found = []
    for route in routes:
        if isinstance(route, Route) and route.path not in STREAMS:
            regexes = {name: convertor.regex for name, convertor in route.param_convertors.items()}
            found.append((route.path_format, sorted(route.methods or ["GET"]), regexes))
        elif isinstance(route, Mount):
            found.append((route.path + "/{file}", ["GET", "HEAD"], {"file": ".*"}))
    return found


def _all_routes(app_routes: list[BaseRoute]) -> list[tuple[str, list[str], dict[str, str]]]:
    """The app's own routes, the framework's routers and the demo's routers."""
    routes = _routes_of(app_routes)
    for package in ("vibetuner.frontend._routes", "app.frontend.routes"):
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            module = importlib.import_module(f"{package}.{info.name}")
            router = getattr(module, "router", None)
            if isinstance(router, APIRouter):
                routes += _routes_of(router.routes)
    return routes


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo app as `make demo` makes it, without installing its dependencies."""
    dest = tmp_path_factory.mktemp("fuzz") / "demo"
    command = [VIBETUNER, "scaffold", "new", str(dest), "--defaults", "--no-install", "--no-git",
               "--data", "project_name=Demo"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, env=clean_env(), timeout=300)
    return dest


@pytest.fixture(scope="module")
async def demo(demo_dir: Path, vibetuner_mongo: EmbeddedMongo) -> AsyncIterator[Demo]:
    from vibetuner.config import reset_settings
    from vibetuner.services.email import reset_email_service
    from vibetuner.services.ratelimit import reset_rate_limit_store
    from vibetuner.services.sessions import get_session_store
    from vibetuner.services.storage import set_storage

    def reset() -> None:
        reset_settings()
        _reset_caches()
        reset_email_service()
        reset_rate_limit_store()
        get_session_store.cache_clear()
        set_storage(None)

    with pytest.MonkeyPatch.context() as env:
        for name in _SETTING_VARS:
            env.delenv(name, raising=False)
        env.setenv("VIBETUNER_ENV_FILE", os.devnull)
        env.setenv("PROJECT_ROOT", str(demo_dir))
        env.setenv("DATABASE_URL", f"{vibetuner_mongo.url}_fuzz")
        env.setenv("DEBUG", "true")  # the development routes too (outbox, live reload)
        env.setenv("EMAIL_PROVIDER", "outbox")
        env.setenv("BASE_URL", BASE)
        env.syspath_prepend(str(demo_dir / "src"))
        reset()
        _forget_app_modules()  # another test's `app` package may still be imported
        try:
            app = importlib.import_module("app.frontend").app
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous,
                httpx.AsyncClient(transport=transport, base_url=BASE) as member,
            ):
                await sign_in_as(member, "fuzz@example.com")
                csrf = csrf_token_of((await member.get("/account")).text)
                routes = [*_all_routes(app.router.routes), None]
                yield Demo(transport, anonymous, member, csrf, routes)
        finally:
            _forget_app_modules()
            reset()


def _forget_app_modules() -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "app"]:
        del sys.modules[name]


Spec = tuple[str, list[str], dict[str, str]]


@st.composite
def _path(draw: st.DrawFn, route: Spec | None) -> str:
    """`route`'s path with generated parameters; without one, a raw path of awkward pieces."""
    if route is not None:
        template, _, regexes = route
        values = {
            name: draw(st.from_regex(regex, fullmatch=True) | st.sampled_from(NASTY))
            for name, regex in regexes.items()
        }
        path = template.format(**{name: quote(value, safe="/") for name, value in values.items()})
    else:
        pieces = ["/", "//", "..", ".", "%2F", "%2e", "%00", "%ZZ", "%", "\\", "posts", "auth",
                  "static", "blobs", "es", "dev", "ü", "²", ";", "@", ":", "?", "#"]  # fmt: skip
        path = "/" + "".join(draw(st.lists(st.sampled_from(pieces) | st.text(max_size=6))))
    return path if path.split("?")[0].rstrip("/") not in STREAMS else "/"


def _value(name: str, known: dict[str, list[str]] = KNOWN) -> st.SearchStrategy[str]:
    pool = known.get(name) or NASTY
    return st.sampled_from(pool) | st.sampled_from(NASTY) | st.text(LATIN1, max_size=40)


@st.composite
def _fields(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Each known name about one time in three, and maybe a made-up one."""
    chosen = [name for name in FIELDS if draw(st.booleans())]
    fields = [(name, draw(_value(name))) for name in chosen]
    return fields + draw(st.lists(st.tuples(st.text(max_size=8), _value("")), max_size=1))


@st.composite
def _request(draw: st.DrawFn, demo: Demo, route: Spec | None) -> dict[str, object]:
    path = draw(_path(route))
    query = draw(_fields()) if draw(st.booleans()) else []
    headers = {name: draw(_value(name, HEADER_VALUES)) for name in HEADERS
               if draw(st.integers(0, 3)) == 0}  # fmt: skip
    body: bytes = b""
    kind = draw(st.sampled_from(["none", "form", "multipart", "raw"]))
    if kind == "form":
        body = urlencode(draw(_fields())).encode()
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    elif kind == "multipart":
        name = draw(st.sampled_from(["avatar", "file", "content", "csrf_token"]))
        filename = draw(st.text(max_size=20) | st.sampled_from(["a.png", "../../x", ""]))
        content = draw(st.binary(max_size=300) | st.just(b"\x89PNG\r\n\x1a\n" + b"\0" * 32))
        part_type = draw(st.sampled_from(TYPES))
        disposition = f'form-data; name="{name}"; filename="{filename}"'.encode("utf-8", "replace")
        body = (b"--b\r\nContent-Disposition: " + disposition + b"\r\nContent-Type: "
                + part_type.encode() + b"\r\n\r\n" + content + b"\r\n--b--\r\n")  # fmt: skip
        headers.setdefault("content-type", "multipart/form-data; boundary=b")
    elif kind == "raw":
        body = draw(st.binary(max_size=500))
    signed_in = draw(st.booleans())
    if signed_in and draw(st.integers(0, 4)):
        headers.setdefault("x-csrf-token", demo.csrf)
    method = draw(st.sampled_from(route[1]) | st.sampled_from(METHODS) if route else
                  st.sampled_from(METHODS))  # fmt: skip
    return {"method": method, "url": path, "params": query, "content": body or None,
            "headers": [(k.encode(), v.encode("latin-1", "replace")) for k, v in headers.items()],
            "signed_in": signed_in}  # fmt: skip


PARTS = 8
"""The routes are fuzzed in this many parts, each a test of its own. Hypothesis caps the
choices one example may make: an example that drew a request for every route overran it
four times in five, and was thrown away."""


@pytest.mark.parametrize("part", range(PARTS))
@given(data=st.data())
@settings(max_examples=20, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])  # fmt: skip
async def test_no_generated_request_is_answered_with_a_500(
    demo: Demo, part: int, data: st.DataObject
) -> None:
    """Each example sends one generated request to every route of its part (the raw path
    counts as a route). No shrinking: a failure already names its request, and shrinking
    many requests is slow."""
    for route in demo.routes[part::PARTS]:
        spec = data.draw(_request(demo, route), label=route[0] if route else "raw path")
        await _send(demo, spec)


async def _send(demo: Demo, spec: dict[str, object]) -> None:
    client = demo.member if spec.pop("signed_in") else demo.anonymous
    if client is demo.anonymous:
        client.cookies.clear()  # each visitor new: no session, so no CSRF token is due
    try:
        request = client.build_request(**spec)  # type: ignore[arg-type]
    except (httpx.InvalidURL, UnicodeEncodeError):
        return  # no HTTP client could send it
    # Straight to the transport: httpx would parse a redirect's Location, which a fuzzed Host
    # header can make unparsable; here only the status and the body matter.
    answer = await demo.transport.handle_async_request(request)
    await answer.aread()
    assert answer.status_code < 500 or answer.status_code == 503, (
        f"{spec['method']} {request.url} -> {answer.status_code}: {answer.text[:500]}"
    )
    assert "Traceback" not in answer.text
    signed_out = client is demo.member and (await client.get("/account")).status_code != 200
    if signed_out:  # a fuzzed sign-out (or sign-in as someone else): sign in again
        await sign_in_as(client, "fuzz@example.com")
        demo.csrf = csrf_token_of((await client.get("/account")).text)
