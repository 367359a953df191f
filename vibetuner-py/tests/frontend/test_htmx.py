import json

from starlette.requests import Request
from starlette.responses import Response

from vibetuner.frontend._htmx import (
    HtmxDetails,
    htmx,
    hx_location,
    hx_push_url,
    hx_redirect,
    hx_refresh,
    hx_replace_url,
    hx_reswap,
    hx_retarget,
    hx_trigger,
    oob,
)


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_plain_request_is_not_htmx() -> None:
    details = htmx(_request({}))
    assert not details
    assert not details.wants_partial


def test_htmx4_headers() -> None:
    details = htmx(
        _request(
            {
                "HX-Request": "true",
                "HX-Target": "ul#post-list",
                "HX-Source": "form#post-form",
                "HX-Current-URL": "http://testserver/posts",
                "HX-Request-Type": "partial",
            }
        )
    )
    assert details.request and details.wants_partial
    assert details.target == "post-list"
    assert details.trigger == "post-form"
    assert details.current_url == "http://testserver/posts"


def test_htmx2_headers() -> None:
    details = HtmxDetails.from_headers(
        {"hx-request": "true", "hx-target": "list", "hx-trigger": "btn", "hx-trigger-name": "go"}
    )
    assert (details.target, details.trigger, details.trigger_name) == ("list", "btn", "go")


def test_boosted_history_and_full_requests_want_the_whole_page() -> None:
    assert not htmx(_request({"HX-Request": "true", "HX-Boosted": "true"})).wants_partial
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert htmx(_request(restore)).history_restore
    assert not htmx(_request(restore)).wants_partial
    assert not htmx(_request({"HX-Request": "true", "HX-Request-Type": "full"})).wants_partial


def test_details_are_parsed_once_per_request() -> None:
    request = _request({"HX-Request": "true"})
    assert htmx(request) is htmx(request)


def test_response_helpers_set_headers() -> None:
    assert hx_redirect("/login").headers["HX-Redirect"] == "/login"
    assert hx_location("/posts").headers["HX-Location"] == "/posts"
    assert hx_refresh().headers["HX-Refresh"] == "true"
    response = Response()
    hx_retarget(response, "#errors")
    hx_reswap(response, "innerHTML")
    hx_push_url(response, "/posts?page=2")
    hx_replace_url(response, "/posts")
    hx_trigger(response, {"post-created": {"id": 1}})
    assert response.headers["HX-Retarget"] == "#errors"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert response.headers["HX-Push-Url"] == "/posts?page=2"
    assert response.headers["HX-Replace-Url"] == "/posts"
    assert json.loads(response.headers["HX-Trigger"]) == {"post-created": {"id": 1}}
    assert hx_push_url(Response(), False).headers["HX-Push-Url"] == "false"


def test_oob_wraps_and_escapes() -> None:
    html = oob("<b>x</b>", "count")
    assert html == '<div hx-swap-oob="innerHTML:#count">&lt;b&gt;x&lt;/b&gt;</div>'
    from markupsafe import Markup

    assert "<b>x</b>" in oob(Markup("<b>x</b>"), "count", swap="outerHTML")
