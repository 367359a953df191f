"""Magic links survive mail scanners, keep working when asked for again, name nobody when
they fail, and never reach a log (issue #14, item 4)."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.frontend.auth_support import (
    BASE,
    HTML,
    browser,
    link_in,
    open_link,
    request_link,
)
from tests.services.email_support import SMTPSink
from vibetuner import create_app
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.testing import MAGIC_CONFIRM, csrf_token_of, sign_in_form_of

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]


async def mailed_link(client: httpx.AsyncClient, sink: SMTPSink, email: str) -> str:
    """Ask for a link as a person does and return its path."""
    sent = await request_link(client, email)
    assert sent.status_code == 200, sent.text[-300:]
    return link_in(sink).removeprefix(BASE)


async def signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get("/account")).status_code == 200


# --- scanners ------------------------------------------------------------------------------


async def test_opening_a_link_consumes_nothing_and_the_button_signs_in(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as person, browser(app, "198.51.100.7") as scanner:
        path = await mailed_link(person, smtp_sink, "scan@example.com")
        for _ in range(3):  # a scanner, a link preview, and the person's own click
            opened = await scanner.get(path)
            assert opened.status_code == 200 and "set-cookie" not in opened.headers.get(
                "location", ""
            )
        assert not await signed_in(scanner), "opening the link signed nobody in"
        page = await person.get(path)
        assert not await signed_in(person)
        confirmed = await person.post(MAGIC_CONFIRM, data=sign_in_form_of(page.text))
        assert confirmed.status_code == 303 and await signed_in(person)


async def test_a_link_that_cannot_be_sent_is_a_page_that_says_so(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    """Sent here (no Redis) to a relay that refuses it: the sign-in page again, with a 503
    and what happened, never a bare 500."""
    smtp_sink.handler.refuse = True
    async with browser(app) as client:
        refused = await request_link(client, "unsendable@example.com")
    assert refused.status_code == 503
    assert "could not be sent just now" in refused.text and 'name="email"' in refused.text


async def test_head_consumes_nothing(app: FastAPI, smtp_sink: SMTPSink) -> None:
    async with browser(app) as client:
        path = await mailed_link(client, smtp_sink, "head@example.com")
        for _ in range(2):
            assert (await client.head(path)).status_code == 200
        assert (await open_link(client, path)).status_code == 303


async def test_the_confirm_page_is_a_plain_form_that_never_submits_itself(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        page = await client.get(await mailed_link(client, smtp_sink, "form@example.com"))
    form = re.search(r"<form[^>]*data-magic-confirm[^>]*>.*?</form>", page.text, re.S)
    assert form, "the confirm page has its form"
    assert 'method="post"' in form.group(0) and 'action="/auth/magic"' in form.group(0)
    assert "hx-" not in form.group(0), "a plain POST: it works with htmx (and scripts) off"
    assert 'type="submit"' in form.group(0)
    scripts = " ".join(re.findall(r"<script[^>]*>(.*?)</script>", page.text, re.S))
    assert not re.search(r"submit\(|requestSubmit|\.click\(|http-equiv", scripts + page.text)
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer", "the token stays out of Referers"


async def test_the_confirm_post_needs_the_pages_csrf_token(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    """Another site cannot post its own token from a victim's browser to sign them in to an
    account of its choosing (login CSRF): a session-less POST is refused too."""
    async with browser(app) as owner:
        path = await mailed_link(owner, smtp_sink, "csrf@example.com")
        form = sign_in_form_of((await owner.get(path)).text)
    async with browser(app, "203.0.113.9") as victim:
        forged = await victim.post(MAGIC_CONFIRM, data={"token": form["token"]})
        assert forged.status_code == 403 and not await signed_in(victim)
        await victim.get("/auth/login")  # now with a session of its own
        wrong = await victim.post(MAGIC_CONFIRM, data={**form, "csrf_token": "x" * 43})
        assert wrong.status_code == 403 and not await signed_in(victim)
    async with browser(app) as owner:
        assert (await open_link(owner, path)).status_code == 303, "refusals consumed nothing"


async def test_a_used_link_stays_used_and_bad_tokens_get_400_not_500(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        path = await mailed_link(client, smtp_sink, "once@example.com")
        page = await client.get(path)
        form = sign_in_form_of(page.text)
        assert (await client.post(MAGIC_CONFIRM, data=form)).status_code == 303
        stale = await client.post(MAGIC_CONFIRM, data=form)
        assert stale.status_code == 403, "the CSRF token from before sign-in is renewed"
        form["csrf_token"] = csrf_token_of((await client.get("/account")).text)
        again = await client.post(MAGIC_CONFIRM, data=form)
        reopened = await client.get(path)
        unknown = await client.post(MAGIC_CONFIRM, data={**form, "token": "A" * 43})
        empty = await client.post(MAGIC_CONFIRM, data={"csrf_token": form["csrf_token"]})
        huge = await client.post(MAGIC_CONFIRM, data={**form, "token": "B" * 500})
    assert again.status_code == reopened.status_code == 400
    assert 'data-link-problem="used"' in again.text and 'data-link-problem="used"' in reopened.text
    assert unknown.status_code == empty.status_code == 400
    assert huge.status_code == 422 and "B" * 500 not in huge.text


# --- asking again ------------------------------------------------------------------------


async def test_asking_again_keeps_the_last_three_links_valid(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    links = []
    for n in range(4):  # from four networks: the per-network limit is not what is tested
        async with browser(app, f"10.14.{n}.1") as client:
            links.append(await mailed_link(client, smtp_sink, "four@example.com"))
    async with browser(app) as client:
        oldest = await client.get(links[0])
        assert oldest.status_code == 400 and 'data-link-problem="used"' in oldest.text
        for path in reversed(links[1:]):  # newest first: signing in retires none of them
            assert (await client.get(path)).status_code == 200
        assert (await open_link(client, links[1])).status_code == 303
    async with browser(app) as other_device:
        assert (await open_link(other_device, links[3])).status_code == 303


# --- what failing links show ---------------------------------------------------------------


async def test_the_link_invalid_page_does_not_show_the_email(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    from vibetuner.data.models.magic_link import MagicLinkToken

    email = "private.person@example.com"
    async with browser(app) as client:
        used = await mailed_link(client, smtp_sink, email)
        assert (await open_link(client, used)).status_code == 303
    async with browser(app) as client:  # not signed in: whoever else holds the link
        used_page = await client.get(used)
        expiring = await mailed_link(client, smtp_sink, email)
        await MagicLinkToken.find({"email": email, "used_at": None}).update_many(
            {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
        )
        expired_page = await client.get(expiring)
    for page, problem in ((used_page, "used"), (expired_page, "expired")):
        assert page.status_code == 400 and f'data-link-problem="{problem}"' in page.text
        assert "Send me a new link" in page.text
        assert "private.person" not in page.text
        assert re.search(r"value=\"[^\"]*@", page.text) is None, "no address is filled in"


# --- logs ----------------------------------------------------------------------------------


@pytest.fixture
def log_output(settings_env: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The framework's own log handler (as `vibetuner run` installs it), written to a buffer."""
    from vibetuner.config import get_settings
    from vibetuner.monitoring import configure_logging

    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = configure_logging(get_settings())
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_granian_access_log_lines_never_carry_a_token(
    settings_env: pytest.MonkeyPatch, log_format: str
) -> None:
    """Granian's own access logger, with its default format, through our handler."""
    from granian.log import DEFAULT_ACCESSLOG_FMT, log_request_builder

    from vibetuner.config import reset_settings
    from vibetuner.monitoring import configure_logging

    settings_env.setenv("LOG_FORMAT", log_format)
    reset_settings()
    root, level, buffer = logging.getLogger(), logging.getLogger().level, io.StringIO()
    handler = configure_logging()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    token = "tok" + uuid.uuid4().hex
    try:
        log_request = log_request_builder(DEFAULT_ACCESSLOG_FMT)
        for path in (f"/auth/magic/{token}", f"/es/auth/magic/{token}"):
            request = {"addr_remote": "127.0.0.1", "path": path, "qs": "", "method": "GET",
                       "scheme": "http", "protocol": "HTTP/1.1"}  # fmt: skip
            log_request(time.time(), time.perf_counter(), request, 200)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    output = buffer.getvalue()
    assert output.count("/auth/magic/[redacted]") == 2, output
    assert token not in output


@pytest.fixture
async def outage_app(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, EmbeddedMongo]]:
    """An app on a database of its own, which the test may stop."""
    from vibetuner.services.email import reset_email_service
    from vibetuner.services.ratelimit import reset_rate_limit_store
    from vibetuner.services.sessions import get_session_store

    mongo = EmbeddedMongo(":memory:", log_path=tmp_path / "mongo.log")
    mongo.start()
    settings_env.setenv("DATABASE_URL", mongo.url)
    settings_env.setenv("EMAIL_PROVIDER", "outbox")
    get_session_store.cache_clear()
    reset_rate_limit_store()
    reset_email_service()
    application = create_app()
    setup_middleware(application)
    try:
        async with application.router.lifespan_context(application):
            yield application, mongo
    finally:
        mongo.stop()
        get_session_store.cache_clear()
        reset_rate_limit_store()


async def test_tokens_never_reach_logs_or_error_pages(
    outage_app: tuple[FastAPI, EmbeddedMongo],
    log_output: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database fails while a link is opened: the 503 is logged with the path, which
    names no token, in our handler and in any other (pytest's here, a Sentry-style
    breadcrumb collector in an app)."""
    from vibetuner.services.auth import issue_magic_link

    app, mongo = outage_app
    token = await issue_magic_link("logged@example.com", "/", 900)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=HTML) as client:
        mongo.stop()
        failed = await client.get(f"/auth/magic/{token}")
    assert failed.status_code == 503 and token not in failed.text
    output = log_output.getvalue()
    assert "GET /auth/magic/[redacted]" in output, output
    assert token not in output
    ours = [r for r in caplog.records if r.name.startswith("vibetuner")]
    assert ours and not any(token in r.getMessage() for r in ours)
