"""Error responses a person can read: an HTML page, an htmx partial, or JSON for API clients."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibetuner.config import get_settings
from vibetuner.exceptions import ServiceUnavailable
from vibetuner.frontend._deps import LoginRequired, login_redirect
from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._templating import render_template
from vibetuner.i18n import N_, LazyString, _, lazy_gettext
from vibetuner.monitoring import get_request_id, record_server_error, redact
from vibetuner.services.server_errors import share_server_error

logger = logging.getLogger("vibetuner.errors")

TEMPLATE = "errors/error.html.jinja"
FRIENDLY = {
    403: lazy_gettext("You do not have access to this page."),
    404: lazy_gettext("The page you asked for does not exist."),
    405: lazy_gettext("That action is not allowed here."),
    429: lazy_gettext("Too many attempts. Wait a moment and try again."),
    503: lazy_gettext("This service is unavailable right now. Please try again in a few seconds."),
}
TITLES = {
    400: lazy_gettext("Bad Request"),
    401: lazy_gettext("Unauthorized"),
    403: lazy_gettext("Forbidden"),
    404: lazy_gettext("Not Found"),
    405: lazy_gettext("Method Not Allowed"),
    408: lazy_gettext("Request Timeout"),
    413: lazy_gettext("Content Too Large"),
    415: lazy_gettext("Unsupported Media Type"),
    422: lazy_gettext("Unprocessable Content"),
    429: lazy_gettext("Too Many Requests"),
    500: lazy_gettext("Internal Server Error"),
    503: lazy_gettext("Service Unavailable"),
}

SERVICE_NAMES = (N_("The database"), N_("The session store"), N_("S3 storage"))
"""What ServiceUnavailable is raised with, marked so the catalogs translate them."""


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return ""


def _title(status_code: int) -> str:
    title = TITLES.get(status_code)
    return str(title) if title is not None else _phrase(status_code)


def wants_html(request: Request) -> bool:
    return bool(htmx(request)) or "text/html" in request.headers.get("accept", "")


def validation_messages(errors: Sequence[Any]) -> list[str]:
    """One sentence per pydantic error, e.g. "Content must be at most 280 characters."."""
    return [_sentence(error) for error in errors]


def _sentence(error: Any) -> str:
    location = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    label = _(location[-1].replace("_", " ").capitalize()) if location else ""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if label and kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        if n == 1:
            return _("%(label)s cannot be empty.") % {"label": label}
        return _("%(label)s must be at least %(n)d characters.") % {"label": label, "n": n}
    if label and kind == "string_too_long":
        n = int(ctx.get("max_length", 0))
        return _("%(label)s must be at most %(n)d characters.") % {"label": label, "n": n}
    if label and kind == "missing":
        return _("%(label)s is required.") % {"label": label}
    if kind == "value_error" and "error" in ctx:
        message = str(ctx["error"])  # the validator's own (possibly lazy) message, no prefix
    else:
        message = str(error.get("msg") or _("Invalid value"))
    return f"{label}: {message}" if label else message


def error_response(
    request: Request,
    status_code: int,
    *,
    messages: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The error as a page, a partial (for htmx) or JSON, by what the client accepts."""
    title = _title(status_code)
    if not wants_html(request):
        detail: Any = list(messages) if len(messages) != 1 else messages[0]
        return JSONResponse({"detail": detail or title}, status_code=status_code, headers=headers)

    context = {"status_code": status_code, "title": title, "messages": list(messages)}
    return render_template(
        request, TEMPLATE, context, htmx_block="error", status_code=status_code, headers=headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = str(exc.detail) if isinstance(exc.detail, str | LazyString) else ""
    if not detail or detail == _phrase(exc.status_code):
        detail = str(FRIENDLY.get(exc.status_code, detail))
    messages = [detail] if detail else []
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(request, exc.status_code, messages=messages, headers=headers)


PROBED = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path. The router's 405 names only the
    methods of the first route that matched the path, which may not be the only one."""
    routes = request.app.router.routes
    allowed = []
    for method in PROBED:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(1, "HEAD")  # HeadAsGetMiddleware answers HEAD wherever GET is
    return allowed


async def _validation_error(request: Request, exc: Exception) -> Response:
    """A page with one sentence per error; API clients get FastAPI's documented list (the
    schema's HTTPValidationError), each `msg` the same readable sentence."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    messages = validation_messages(errors)
    if wants_html(request):
        return error_response(request, 422, messages=messages)
    detail = [
        {"loc": list(error.get("loc", ())), "msg": message, "type": error.get("type", "")}
        for error, message in zip(errors, messages, strict=True)
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _server_error(request: Request, exc: Exception) -> Response:
    path = redact(request.url.path)  # redacted here too: handlers other than ours see records
    logger.exception("Unhandled error on %s %s", request.method, path, exc_info=exc)
    request_id = request.scope.get("request_id") or get_request_id()
    await share_server_error(record_server_error(request_id, request.method, path, exc))
    return error_response(request, 500, messages=[_("Something went wrong on our side.")])


def service_unavailable(request: Request, exc: ServiceUnavailable) -> Response:
    headers = {"Retry-After": str(exc.retry_after)}
    message = _("%(service)s is unavailable right now. Please try again in a few seconds.")
    messages = [message % {"service": _(exc.service)}]
    return error_response(request, 503, messages=messages, headers=headers)


async def _service_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceUnavailable)
    logger.warning("%s (%s %s)", exc.message, request.method, redact(request.url.path))
    return service_unavailable(request, exc)


async def _backend_down(request: Request, exc: Exception) -> Response:
    """Redis or MongoDB dropped mid-request: 503 with a clear message, never a 500.

    coredis raises its own ConnectionError, and the builtin TimeoutError when Redis does not
    answer in time (that handler is installed only in apps that use Redis)."""
    redis = type(exc).__module__.startswith("coredis") or isinstance(exc, TimeoutError)
    service = "Redis" if redis else "The database"
    return await _service_unavailable(request, ServiceUnavailable(service))


_OUTAGE_NAMES = frozenset(
    {"ConnectionError", "TimeoutError", "AutoReconnect", "ServerSelectionTimeoutError"}
)


def is_outage(exc: BaseException) -> bool:
    """A Redis or MongoDB connection failure (not a programming error), found without
    importing either driver: apps without Redis never load coredis."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    module = type(exc).__module__
    if not module.startswith(("coredis", "pymongo")):
        return False
    return any(cls.__name__ in _OUTAGE_NAMES for cls in type(exc).__mro__)


class OutageMiddleware:
    """A Redis failure no route handled becomes `_backend_down`'s 503, as an exception
    handler would make it. Recognised by `is_outage`, so coredis loads with the first use of
    Redis, not at startup; sits right outside FastAPI's exception handlers. Until coredis is
    loaded no coredis error can happen, and requests pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "coredis" not in sys.modules:
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started or not is_outage(exc):
                raise
            response = await _backend_down(Request(scope, receive), exc)
            await response(scope, receive, send)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return login_redirect(request, exc.next_url)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(ServiceUnavailable, _service_unavailable)
    outages: list[type[Exception]] = [AutoReconnect, ServerSelectionTimeoutError]
    if get_settings().redis_url:
        outages.append(TimeoutError)
        app.add_middleware(OutageMiddleware)  # coredis's own errors, once coredis is loaded
    for error in outages:
        app.add_exception_handler(error, _backend_down)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
