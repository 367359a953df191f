"""What an htmx request asks for, and the response headers that steer htmx."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from starlette.requests import HTTPConnection
from starlette.responses import Response

from vibetuner.frontend._redirects import header_url

_SCOPE_KEY = "vibetuner.htmx"


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() == "true"


@dataclass(frozen=True, slots=True)
class HtmxDetails:
    """The htmx request headers, read once per request.

    htmx 4 renamed a few headers (HX-Trigger became HX-Source); both spellings are read.
    """

    request: bool = False
    boosted: bool = False
    history_restore: bool = False
    target: str | None = None
    trigger: str | None = None
    trigger_name: str | None = None
    current_url: str | None = None
    request_type: str | None = None

    def __bool__(self) -> bool:
        return self.request

    @property
    def wants_partial(self) -> bool:
        """True when the response will be swapped into part of a page, not replace it."""
        if not self.request or self.boosted or self.history_restore:
            return False
        return self.request_type != "full"

    @classmethod
    def from_headers(cls, headers: Any) -> HtmxDetails:
        if not _flag(headers.get("hx-request")):
            return _NOT_HTMX
        return cls(
            request=True,
            boosted=_flag(headers.get("hx-boosted")),
            history_restore=_flag(headers.get("hx-history-restore-request")),
            target=_strip_selector(headers.get("hx-target")),
            trigger=_strip_selector(headers.get("hx-source") or headers.get("hx-trigger")),
            trigger_name=headers.get("hx-trigger-name"),
            current_url=headers.get("hx-current-url"),
            request_type=headers.get("hx-request-type"),
        )


_NOT_HTMX = HtmxDetails()


def _strip_selector(value: str | None) -> str | None:
    """htmx 4 sends `tag#id`; htmx 2 sends the bare id. Return the id either way."""
    if not value:
        return None
    _, hash_, element_id = value.partition("#")
    return element_id if hash_ else value


def htmx(conn: HTTPConnection) -> HtmxDetails:
    """The htmx details of this request, parsed once and kept in the ASGI scope."""
    scope = conn.scope
    details = scope.get(_SCOPE_KEY)
    if details is None:
        if any(name == b"hx-request" for name, _ in scope["headers"]):
            details = HtmxDetails.from_headers(conn.headers)
        else:
            details = _NOT_HTMX  # most requests: skip building a Headers object
        scope[_SCOPE_KEY] = details
    return details


def hx_redirect(url: str) -> Response:
    """A client-side redirect: htmx navigates the whole page to `url`."""
    return Response(status_code=200, headers={"HX-Redirect": header_url(url)})


def hx_refresh() -> Response:
    return Response(status_code=200, headers={"HX-Refresh": "true"})


def hx_location(url: str) -> Response:
    """Navigate with an htmx request (no full reload), pushing `url` to history."""
    return Response(status_code=200, headers={"HX-Location": header_url(url)})


def hx_trigger(response: Response, event: str | dict[str, Any]) -> Response:
    """Fire client events: a name, or {name: detail} to pass data to the listeners."""
    value = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
    response.headers["HX-Trigger"] = value
    return response


def hx_push_url(response: Response, url: str | bool) -> Response:
    value = header_url(url) if isinstance(url, str) else str(url).lower()
    response.headers["HX-Push-Url"] = value
    return response


def hx_replace_url(response: Response, url: str) -> Response:
    response.headers["HX-Replace-Url"] = header_url(url)
    return response


def hx_retarget(response: Response, selector: str) -> Response:
    response.headers["HX-Retarget"] = selector
    return response


def hx_reswap(response: Response, swap: str) -> Response:
    response.headers["HX-Reswap"] = swap
    return response


def oob(html: str | Markup, target_id: str, *, swap: str = "innerHTML", tag: str = "div") -> Markup:
    """Wrap a fragment so htmx swaps it into `#target_id` out of band, beside the main swap."""
    if not tag.isalnum():
        raise ValueError(f"{tag!r} is not an HTML tag name")
    content = html if isinstance(html, Markup) else escape(html)
    # Markup.format escapes every argument, so target_id and swap cannot inject markup.
    return Markup('<{tag} hx-swap-oob="{swap}:#{id}">{content}</{tag}>').format(
        tag=tag, id=target_id, swap=swap, content=content
    )
