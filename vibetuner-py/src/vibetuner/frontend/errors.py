"""Error responses a person can read: an HTML page, an htmx partial, or JSON for API clients."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vibetuner.exceptions import ServiceUnavailable
from vibetuner.frontend.htmx import htmx

logger = logging.getLogger("vibetuner.errors")

TEMPLATE = "errors/error.html.jinja"
FRIENDLY = {
    403: "You do not have access to this page.",
    404: "The page you asked for does not exist.",
    405: "That action is not allowed here.",
    429: "Too many attempts. Wait a moment and try again.",
    503: "This service is unavailable right now. Please try again in a few seconds.",
}


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return ""


def wants_html(request: Request) -> bool:
    return bool(htmx(request)) or "text/html" in request.headers.get("accept", "")


def validation_messages(errors: Sequence[Any]) -> list[str]:
    """One sentence per pydantic error, e.g. "Content must be at most 280 characters."."""
    return [_sentence(error) for error in errors]


def _sentence(error: Any) -> str:
    location = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    label = location[-1].replace("_", " ").capitalize() if location else ""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if label and kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return (
            f"{label} cannot be empty." if n == 1 else f"{label} must be at least {n} characters."
        )
    if label and kind == "string_too_long":
        return f"{label} must be at most {ctx.get('max_length')} characters."
    if label and kind == "missing":
        return f"{label} is required."
    message = str(error.get("msg", "Invalid value"))
    return f"{label}: {message}" if label else message


def error_response(
    request: Request,
    status_code: int,
    *,
    messages: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The error as a page, a partial (for htmx) or JSON, by what the client accepts."""
    title = _phrase(status_code)
    if not wants_html(request):
        detail: Any = list(messages) if len(messages) != 1 else messages[0]
        return JSONResponse({"detail": detail or title}, status_code=status_code, headers=headers)
    from vibetuner.frontend.templating import render_template

    context = {"status_code": status_code, "title": title, "messages": list(messages)}
    return render_template(
        request, TEMPLATE, context, htmx_block="error", status_code=status_code, headers=headers
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if not detail or detail == _phrase(exc.status_code):
        detail = FRIENDLY.get(exc.status_code, detail)
    messages = [detail] if detail else []
    return error_response(request, exc.status_code, messages=messages, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, 422, messages=validation_messages(exc.errors()))


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, messages=["Something went wrong on our side."])


def service_unavailable(request: Request, exc: ServiceUnavailable) -> Response:
    headers = {"Retry-After": str(exc.retry_after)}
    return error_response(request, 503, messages=[exc.message], headers=headers)


async def _service_unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceUnavailable)
    logger.warning("%s (%s %s)", exc.message, request.method, request.url.path)
    return service_unavailable(request, exc)


async def _backend_down(request: Request, exc: Exception) -> Response:
    """Redis or MongoDB dropped mid-request: 503 with a clear message, never a 500."""
    service = "Redis" if type(exc).__module__.startswith("redis") else "The database"
    return await _service_unavailable(request, ServiceUnavailable(service))


async def _login_required(request: Request, exc: Exception) -> Response:
    from vibetuner.frontend.deps import LoginRequired, login_redirect

    assert isinstance(exc, LoginRequired)
    return login_redirect(request, exc.next_url)


def install_error_handlers(app: FastAPI) -> None:
    from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

    from vibetuner.config import get_settings
    from vibetuner.frontend.deps import LoginRequired

    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(ServiceUnavailable, _service_unavailable)
    outages: list[type[Exception]] = [AutoReconnect, ServerSelectionTimeoutError]
    if get_settings().redis_url:  # redis-py is loaded only by apps that use Redis
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        outages += [RedisConnectionError, RedisTimeoutError]
    for error in outages:
        app.add_exception_handler(error, _backend_down)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
