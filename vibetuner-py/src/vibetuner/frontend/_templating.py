"""Pages: the templates with the request's globals (CSRF, nonce, user), rendered into
responses; a partial block for htmx requests."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack

import jinja2
import jinja2.runtime
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from vibetuner.config import get_settings
from vibetuner.frontend._csrf import csrf_input, csrf_token
from vibetuner.frontend._deps import signed_in_user, user_of
from vibetuner.frontend._htmx import htmx
from vibetuner.frontend._static import HashedStatics
from vibetuner.rendering import (
    FRAMEWORK_STATIC_PREFIX,
    FRAMEWORK_STATICS,
    AssetHashes,
    Templates,
    build_templates,
)
from vibetuner.services.sessions import ANONYMOUS

Context = Mapping[str, Any] | None


class PageOptions(TypedDict, total=False):
    """A page's keywords: `block` renders only that block; `htmx_block` only for a partial
    htmx request; the response's `status_code` (200) and `headers`."""

    block: str | None
    htmx_block: str | None
    status_code: int
    headers: Mapping[str, str] | None


class PageTemplates(Templates):
    """Templates that also render responses for requests, with the request's globals."""

    def __init__(
        self,
        project_dir: Path | None,
        assets: AssetHashes,
        *,
        globals: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            project_dir, assets, globals={**REQUEST_GLOBALS, **(globals or {})}, **options
        )

    def render(
        self, request: Request, name: str, context: Context = None, **options: Unpack[PageOptions]
    ) -> HTMLResponse:
        """An HTML response; with `htmx_block`, a partial htmx request gets only that block."""
        block, htmx_block = options.get("block"), options.get("htmx_block")
        if htmx_block is not None and block is None and htmx(request).wants_partial:
            block = htmx_block
        scope = request.scope
        values = {
            "request": request,
            "htmx": htmx(request),
            "nonce": scope.get("csp_nonce", ""),
            "user": scope.get("user", ANONYMOUS),
            "_session": scope.get("session"),  # the skeleton's last check, without a call
            **(context or {}),
        }
        content = self.render_to_string(name, values, block=block)
        status_code, headers = options.get("status_code", 200), options.get("headers")
        response = HTMLResponse(content, status_code=status_code, headers=headers)
        if htmx_block is not None:
            response.headers["Vary"] = "HX-Request"
        return response


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    return csrf_token(context["request"])


@jinja2.pass_context
def _csrf_input(context: jinja2.runtime.Context) -> Markup:
    return csrf_input(context["request"])


@jinja2.pass_context
def _csp_nonce(context: jinja2.runtime.Context) -> str:
    request = context.get("request")
    return str(request.scope.get("csp_nonce", "")) if request is not None else ""


@jinja2.pass_context
def _current_user(context: jinja2.runtime.Context) -> Any:
    """The page's `user`: the session's, unless the view passed its own (as a dependency
    override does through the view)."""
    user = context.get("user")
    if user is not None:
        return user
    request = context.get("request")
    return user_of(request) if request is not None else ANONYMOUS


@jinja2.pass_context
def _require_auth(context: jinja2.runtime.Context) -> str:
    """Used by base/auth.html.jinja: rendering it for a visitor sends them to sign in."""
    if not getattr(context.get("user"), "is_authenticated", False):
        signed_in_user(context["request"])
    return ""


REQUEST_GLOBALS = {
    "csrf_token": _csrf_token,
    "csrf_input": _csrf_input,
    "csp_nonce": _csp_nonce,
    "current_user": _current_user,
    "require_auth": _require_auth,
}


@functools.cache
def get_templates() -> PageTemplates:
    """The process's page templates, built from settings on first use."""
    return build_templates(PageTemplates, get_statics(), get_framework_statics())


@functools.cache
def get_statics() -> HashedStatics:
    settings = get_settings()
    return HashedStatics(
        settings.statics_dir, watch=not settings.is_prod, base=settings.static_url or ""
    )


@functools.cache
def get_framework_statics() -> HashedStatics:
    """The framework's own scripts (passkeys), served like the app's under their own prefix."""
    settings = get_settings()
    return HashedStatics(
        FRAMEWORK_STATICS,
        prefix=FRAMEWORK_STATIC_PREFIX,
        watch=not settings.is_prod,
        base=settings.static_url or "",
    )


def render_to_string(
    name: str, context: Mapping[str, Any] | None = None, *, block: str | None = None
) -> str:
    """Render a page's template outside a request (a live update): no request, no user."""
    return get_templates().render_to_string(name, context, block=block)


def render_template(
    request: Request, name: str, context: Context = None, **options: Unpack[PageOptions]
) -> HTMLResponse:
    """Render with the app's templates: the full page, or `htmx_block` for a partial request."""
    return get_templates().render(request, name, context, **options)
