"""Redirect targets (issue #14, item 3): whatever `next` holds, the Location or HX-Redirect
the app sends stays on this site, read as a browser reads it (the WHATWG URL parser, via
ada-url) and as a server that decodes the path again would read it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest
from ada_url import join_url
from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.i18n.conftest import AppFactory, browser
from vibetuner.frontend._htmx import hx_location, hx_redirect
from vibetuner.frontend._redirects import safe_next

SITE = "https://site.example/some/page"
HOST = "site.example"

# The pieces open-redirect payloads are made of: every way to spell "another host".
_SLASHES = ["/", "//", "\\", "/\\", "\\/", "%2F", "%2f", "%5C", "%252F", "%25252F", "/%2F",
            "/%09/", "/%0A/", "/%0D/", "/%00/", "%E3%80%82"]  # fmt: skip
_SPACE = ["", "\t", "\n", "\r", " ", "\x00", "\x0b", "\x1f", "\x7f", "\u3000", "\u2028"]
_SCHEMES = ["", "http:", "https:", "HTTPS:", "javascript:", "data:", "//", "https://",
            "http:/", "http:\\\\", "/es", "/en", "/es/", "es:"]  # fmt: skip
_HOSTS = ["evil.example", "evil.example:443", "user@evil.example", "site.example@evil.example",
          "evil。example", "\u0395VIL.example", "[::1]", "127.0.0.1"]  # fmt: skip

pieces = st.sampled_from(_SLASHES + _SPACE + _SCHEMES + _HOSTS)
targets = st.one_of(
    st.lists(pieces, min_size=1, max_size=6).map("".join),
    st.tuples(
        *(st.sampled_from(group) for group in (_SCHEMES, _SPACE, _SLASHES, _SLASHES, _HOSTS)),
        st.text(max_size=8),
    ).map("".join),
    st.text(max_size=40),
)
FUZZ = settings(
    max_examples=400, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip


def stays_on_site(location: str) -> bool:
    """The browser's reading, and a re-decoding server's, all land on this host."""
    reading = location
    for _ in range(4):
        try:
            url = join_url(SITE, reading)
        except ValueError:
            return False
        if not url.startswith(f"https://{HOST}/"):
            return False
        reading = unquote(reading)
    return True


@given(targets)
@FUZZ
def test_safe_next_only_ever_answers_a_path_on_this_site(target: str) -> None:
    location = safe_next(target)
    assert location.isascii(), "it must fit in a header"
    assert stays_on_site(location), (target, location)


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "/\\evil.example", "\\/evil.example", "/\t/evil.example",
     "/\n/evil.example", " //evil.example", "/%2F/evil.example", "/%2f%2fevil.example",
     "/%5Cevil.example", "/%252F%252Fevil.example", "/%09/evil.example", "https:evil.example",
     "javascript:alert(1)", "/%0A/evil.example"],
)  # fmt: skip
def test_every_encoding_of_another_host_goes_home(target: str) -> None:
    assert safe_next(target) == "/"


def test_paths_on_this_site_are_kept_and_encoded_for_headers() -> None:
    assert safe_next("/posts?page=2#top") == "/posts?page=2#top"
    assert safe_next("/files/a%2Fb") == "/files/a%2Fb"
    assert safe_next("/ünï/😀") == "/%C3%BCn%C3%AF/%F0%9F%98%80"


async def test_language_switch_with_prefixes_never_leaves_the_site(
    make_app: AppFactory,
) -> None:
    """Stripping the language prefix from `/es//evil.example` leaves `//evil.example`: the
    check runs after that rewrite, so the answer is the home page."""
    async with make_app(prefix=True) as app, browser(app) as client:
        plain = await client.post(
            "/i18n/language", data={"language": "en", "next": "/es//evil.example"}
        )
        htmx = await client.post(
            "/i18n/language", data={"language": "en", "next": "/es/\\evil.example"},
            headers={"HX-Request": "true"},
        )  # fmt: skip
        spanish = await client.post(
            "/i18n/language", data={"language": "es", "next": "/es//evil.example"}
        )
    assert plain.status_code == 303 and plain.headers["location"] == "/"
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == "/"
    assert spanish.status_code == 303 and stays_on_site(spanish.headers["location"])


async def test_htmx_language_switch_encodes_a_non_latin1_next(make_app: AppFactory) -> None:
    """HX-Redirect cannot carry `/ünï/😀` as it is (headers are Latin-1): it is sent
    percent-encoded, never a 500."""
    async with make_app(prefix=True) as app, browser(app) as client:
        htmx = await client.post(
            "/i18n/language", data={"language": "es", "next": "/ünï/😀"},
            headers={"HX-Request": "true"},
        )  # fmt: skip
    assert htmx.status_code == 204
    assert htmx.headers["hx-redirect"] == "/es/%C3%BCn%C3%AF/%F0%9F%98%80"


@pytest.fixture(params=[False, True], ids=["plain", "prefixed"])
async def site(make_app: AppFactory, request: pytest.FixtureRequest) -> AsyncIterator[AsyncClient]:
    """A browser on the small app, with and without language prefixes in URLs."""
    async with make_app(prefix=request.param) as app, browser(app) as client:
        yield client


@given(targets, st.sampled_from(["en", "es"]), st.booleans())
@settings(FUZZ, max_examples=100)
async def test_generated_next_through_the_routes_stays_on_site(
    site: AsyncClient, target: str, language: str, from_htmx: bool
) -> None:
    """The language switch (page and htmx) and the sign-in page, driven by Hypothesis."""
    site.cookies.clear()  # a new visitor: no session, so no CSRF token is due
    headers = {"HX-Request": "true"} if from_htmx else {}
    data = {"language": language, "next": target}
    switched = await site.post("/i18n/language", data=data, headers=headers)
    assert switched.status_code in (204, 303, 422), switched.text[:200]
    if switched.status_code != 422:
        where = switched.headers["hx-redirect" if from_htmx else "location"]
        assert stays_on_site(where), (target, where)
    login = await site.get("/auth/login", params={"next": target})
    assert login.status_code == 200


def test_htmx_url_helpers_percent_encode_and_refuse_header_splitting() -> None:
    assert hx_redirect("/ünï").headers["hx-redirect"] == "/%C3%BCn%C3%AF"
    assert hx_location("/a b").headers["hx-location"] == "/a%20b"
    with pytest.raises(ValueError, match="control characters"):
        hx_redirect("/x\r\nSet-Cookie: a=b")
