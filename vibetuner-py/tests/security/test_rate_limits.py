"""Sign-in rate limits slow strangers down but cannot lock an address's owner out; IPv6
clients are held to their /64 (issue #14, item 4). Counted in MongoDB and in Redis."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.frontend.auth_support import browser, csrf_from, open_link, request_link
from tests.services.email_support import SMTPSink
from tests.services.ratelimit_support import steady_rate_limits
from vibetuner.services.ratelimit import client_network

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]


@pytest.fixture(params=["mongo", "redis"])
async def limited_app(request: pytest.FixtureRequest, app: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with its limits counted in MongoDB (its own choice without Redis) or in a
    real redis-server, on a clock that stands still (see `steady_rate_limits`)."""
    from vibetuner.data._redis_clients import close_client, open_client

    if request.param == "mongo":
        with steady_rate_limits():
            yield app
        return
    redis = open_client(request.getfixturevalue("redis_server").url)
    try:
        with steady_rate_limits(redis):
            yield app
    finally:
        await close_client(redis)


@pytest.fixture
def cap_mails(auth_env: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set RATE_LIMIT_LOGIN_MAILS for the app under test."""
    from vibetuner.config import reset_settings

    def cap(rule: str) -> None:
        auth_env.setenv("RATE_LIMIT_LOGIN_MAILS", rule)
        reset_settings()

    return cap


def mails_to(sink: SMTPSink, email: str) -> int:
    return sum(email in received.rcpt_tos for received in sink.received)


async def ask(app: FastAPI, ip: str, email: str) -> httpx.Response:
    async with browser(app, ip) as client:
        return await request_link(client, email)


async def test_strangers_cannot_use_up_the_owners_requests(
    limited_app: FastAPI, smtp_sink: SMTPSink
) -> None:
    owner = "owner@example.com"
    stranger = [(await ask(limited_app, "192.0.2.66", owner)).status_code for _ in range(4)]
    assert stranger == [200, 200, 200, 429], "the stranger's own network is limited"
    assert (await ask(limited_app, "198.51.100.10", owner)).status_code == 200
    assert mails_to(smtp_sink, owner) == 4, "the owner got a link of their own"


async def test_a_network_is_limited_across_addresses(
    limited_app: FastAPI, smtp_sink: SMTPSink
) -> None:
    statuses = [(await ask(limited_app, "192.0.2.70", f"n{i}@example.com")).status_code
                for i in range(6)]  # fmt: skip
    assert statuses == [200] * 5 + [429]
    blocked = await ask(limited_app, "192.0.2.70", "n9@example.com")
    assert int(blocked.headers["retry-after"]) >= 1 and "Too many attempts" in blocked.text


async def test_ipv6_clients_are_limited_per_64(limited_app: FastAPI, smtp_sink: SMTPSink) -> None:
    hosts = [f"2001:db8:1:2::{i + 1:x}" for i in range(6)]
    statuses = [(await ask(limited_app, host, f"v{host[-1]}@example.com")).status_code
                for host in hosts]  # fmt: skip
    assert statuses == [200] * 5 + [429], "new addresses in the same /64 do not dodge it"
    neighbour = await ask(limited_app, "2001:db8:1:3::1", "v9@example.com")
    assert neighbour.status_code == 200, "the next /64 is someone else"


async def test_mails_per_address_are_capped_without_telling_anyone(
    limited_app: FastAPI, smtp_sink: SMTPSink, cap_mails: Callable[[str], None]
) -> None:
    cap_mails("2/hour")
    target = "bombed@example.com"
    answers = [await ask(limited_app, f"192.0.2.{80 + i}", target) for i in range(4)]
    assert [a.status_code for a in answers] == [200] * 4

    def shape(response: httpx.Response) -> str:
        return re.sub(r'nonce="[^"]+"|[A-Za-z0-9_\-]{43}', "", response.text)

    assert len({shape(a) for a in answers}) == 1, "past the cap the page looks the same"
    assert mails_to(smtp_sink, target) == 2


async def test_a_browser_that_signed_in_before_still_gets_mail_past_the_cap(
    limited_app: FastAPI, smtp_sink: SMTPSink, cap_mails: Callable[[str], None]
) -> None:
    cap_mails("2/hour")
    owner = "kept@example.com"
    async with browser(limited_app, "198.51.100.20") as laptop:
        await request_link(laptop, owner)
        link = smtp_sink.received[-1]
        body = next(p for p in link.message.walk() if p.get_content_type() == "text/plain")
        path = re.search(r"/auth/magic/\S+", body.get_payload(decode=True).decode())  # type: ignore[union-attr]
        assert path and (await open_link(laptop, path.group(0))).status_code == 303
        assert "vt_device" in laptop.cookies and owner not in laptop.cookies["vt_device"]
        confirm = await laptop.get("/auth/logout")
        signed_out = await laptop.post("/auth/logout", data={"csrf_token": csrf_from(confirm.text)})
        assert signed_out.status_code == 303, "signing out keeps the device cookie"
        for i in range(3):  # strangers fill the address's cap
            assert (await ask(limited_app, f"192.0.2.{90 + i}", owner)).status_code == 200
        before = mails_to(smtp_sink, owner)
        assert (await request_link(laptop, owner)).status_code == 200
        assert mails_to(smtp_sink, owner) == before + 1, "the owner's browser is not capped"
    assert (await ask(limited_app, "198.51.100.21", owner)).status_code == 200
    assert mails_to(smtp_sink, owner) == before + 1, "a browser that never signed in is"


async def test_a_made_up_device_cookie_does_not_lift_the_cap(
    limited_app: FastAPI, smtp_sink: SMTPSink, cap_mails: Callable[[str], None]
) -> None:
    from vibetuner.services.auth import address_key

    cap_mails("1/hour")
    target = "forged@example.com"
    assert (await ask(limited_app, "192.0.2.100", target)).status_code == 200
    async with browser(limited_app, "192.0.2.101") as forger:
        forger.cookies.set("vt_device", f"{address_key(target)}.{'0' * 32}")
        assert (await request_link(forger, target)).status_code == 200
    assert mails_to(smtp_sink, target) == 1


@pytest.mark.parametrize(
    ("host", "network"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:a:b:1:2:3:4", "2001:db8:a:b::/64"),
        ("2001:db8:a:b::ffff", "2001:db8:a:b::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_client_network(host: str | None, network: str) -> None:
    assert client_network(host) == network
