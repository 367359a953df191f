"""Plain pages are served by plain Starlette routes; everything else keeps FastAPI's path."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import PlainTextResponse, Response

from vibetuner.frontend._fastpath import PlainRoute, hoist_plain_routes


def _dependency() -> str:
    return "dep"


CALLS: list[str] = []


async def _who(request: Request) -> str:
    """Like `require_user`: an async function of the request alone."""
    CALLS.append("who")
    user = request.headers.get("x-user")
    if user is None:
        from fastapi import HTTPException

        raise HTTPException(401, "sign in first")
    return user


async def _ready() -> bool:
    return True


async def _who_with_query(request: Request, q: str = "") -> str:
    return q


async def _who_yielding(request: Request):  # type: ignore[no-untyped-def]
    yield "yielded"


async def _who_nested(who: Annotated[str, Depends(_who)]) -> str:
    return who.upper()


def _app() -> FastAPI:
    app = FastAPI()
    pages = APIRouter()

    @pages.get("/")
    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<p>home {request.url.path}</p>")

    @pages.get("/bare")
    async def bare() -> Response:
        return PlainTextResponse("bare")

    @pages.get("/keyword")
    async def keyword(*, request: Request) -> Response:
        return PlainTextResponse(request.method)

    @pages.get("/query")
    async def query(q: str = "none") -> Response:
        return PlainTextResponse(q)

    @pages.get("/dict")
    async def as_dict() -> dict[str, str]:
        return {"kind": "json"}

    @pages.get("/sync")
    def sync() -> Response:
        return PlainTextResponse("sync")

    @pages.get("/depends")
    async def depends(value: Annotated[str, Depends(_dependency)]) -> Response:
        return PlainTextResponse(value)

    @pages.get("/items/{item_id}")
    async def item(item_id: int) -> Response:
        return PlainTextResponse(f"item {item_id}")

    @pages.get("/items/new")
    async def shadowed() -> Response:
        return PlainTextResponse("never reached: /items/{item_id} matches first")

    @pages.get("/me")
    async def me(
        request: Request,
        who: Annotated[str, Depends(_who)],
        again: Annotated[str, Depends(_who)],
        ready: Annotated[bool, Depends(_ready)],
    ) -> Response:
        return PlainTextResponse(f"{who} {again} {ready} {request.url.path}")

    @pages.get("/me/query")
    async def me_query(who: Annotated[str, Depends(_who_with_query)]) -> Response:
        return PlainTextResponse(who)

    @pages.get("/me/yield")
    async def me_yield(who: Annotated[str, Depends(_who_yielding)]) -> Response:
        return PlainTextResponse(who)

    @pages.get("/me/nested")
    async def me_nested(who: Annotated[str, Depends(_who_nested)]) -> Response:
        return PlainTextResponse(who)

    members = APIRouter(prefix="/members", dependencies=[Depends(_who)])

    @members.get("/list")
    async def member_list() -> Response:
        return PlainTextResponse("members")

    app_routers = [members]
    guarded = APIRouter(prefix="/admin", dependencies=[Depends(_dependency)])

    @guarded.get("/panel")
    async def panel() -> Response:
        return PlainTextResponse("panel")

    prefixed = APIRouter(prefix="/docs")

    @prefixed.get("/intro")
    async def intro(request: Request) -> JSONResponse:
        return JSONResponse({"route": request.scope["route"].path})

    app.include_router(pages)
    app.include_router(guarded)
    for router in app_routers:
        app.include_router(router)
    app.include_router(prefixed, prefix="/v1")
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_only_plain_pages_are_hoisted() -> None:
    app = _app()
    hoisted = hoist_plain_routes(app)
    assert sorted(route.path for route in hoisted) == [
        "/",
        "/bare",
        "/keyword",
        "/me",
        "/members/list",
        "/v1/docs/intro",
    ]
    assert all(isinstance(route, PlainRoute) for route in app.router.routes[: len(hoisted)])


def test_hoisting_twice_adds_nothing() -> None:
    app = _app()
    first = hoist_plain_routes(app)
    count = len(app.router.routes)
    assert first and hoist_plain_routes(app) == []
    assert len(app.router.routes) == count


async def test_responses_are_the_same_either_way() -> None:
    paths = ["/", "/bare", "/keyword", "/query?q=x", "/dict", "/sync", "/depends", "/items/3"]
    paths += ["/items/new", "/admin/panel", "/me", "/members/list", "/me/query?q=x"]
    paths += ["/me/yield", "/me/nested"]
    before = _app()
    after = _app()
    hoist_plain_routes(after)
    async with _client(before) as plain, _client(after) as fast:
        for path in paths:
            for headers in ({}, {"x-user": "ada"}):
                expected = await plain.get(path, headers=headers)
                got = await fast.get(path, headers=headers)
                assert (got.status_code, got.text) == (expected.status_code, expected.text), path
                assert got.headers["content-type"] == expected.headers["content-type"], path


async def test_a_dependency_used_twice_is_called_once_as_in_fastapi() -> None:
    app = _app()
    hoist_plain_routes(app)
    CALLS.clear()
    async with _client(app) as client:
        response = await client.get("/me", headers={"x-user": "ada"})
    assert (response.text, CALLS) == ("ada ada True /me", ["who"])


async def test_full_route_template_is_in_the_scope_for_metrics() -> None:
    app = _app()
    hoist_plain_routes(app)
    async with _client(app) as client:
        assert (await client.get("/v1/docs/intro")).json() == {"route": "/v1/docs/intro"}


async def test_wrong_method_still_gets_405_and_head_is_answered() -> None:
    app = _app()
    hoist_plain_routes(app)
    async with _client(app) as client:
        assert (await client.post("/")).status_code == 405
        head = await client.head("/")
        assert head.status_code == 200 and head.text == ""


def _served_app() -> FastAPI:
    from fastapi import HTTPException
    from fastapi.responses import PlainTextResponse as Text

    from vibetuner.frontend._fastpath import PlainRoutesMiddleware

    app = FastAPI()
    app.add_middleware(PlainRoutesMiddleware, fastapi=app)

    @app.get("/where")
    async def where(request: Request) -> JSONResponse:
        scope = request.scope
        return JSONResponse(
            {"fastapi_stack": "fastapi_middleware_astack" in scope, "route": scope["route"].path}
        )

    @app.get("/teapot")
    async def teapot() -> Response:
        raise HTTPException(418, "short and stout")

    @app.exception_handler(HTTPException)
    async def handler(request: Request, exc: HTTPException) -> Response:
        return Text(f"handled {exc.status_code}: {exc.detail}", status_code=exc.status_code)

    hoist_plain_routes(app)
    return app


async def test_plain_routes_are_answered_before_fastapis_inner_layers() -> None:
    async with _client(_served_app()) as client:
        assert (await client.get("/where")).json() == {"fastapi_stack": False, "route": "/where"}
        assert (await client.head("/where")).status_code == 200


async def test_errors_in_plain_routes_reach_the_apps_handlers() -> None:
    async with _client(_served_app()) as client:
        response = await client.get("/teapot")
    assert (response.status_code, response.text) == (418, "handled 418: short and stout")


async def test_other_methods_and_paths_go_on_to_fastapi() -> None:
    async with _client(_served_app()) as client:
        assert (await client.post("/where")).status_code == 405
        assert (await client.get("/nowhere")).status_code == 404


def test_plain_pages_come_right_after_every_check() -> None:
    from vibetuner.frontend._fastpath import PlainRoutesMiddleware
    from vibetuner.frontend.middleware import HeadAsGetMiddleware, setup_middleware

    app = FastAPI()
    setup_middleware(app)
    inner = [m.cls for m in app.user_middleware[-2:]]
    assert inner == [PlainRoutesMiddleware, HeadAsGetMiddleware], "only HEAD-as-GET is inside"
