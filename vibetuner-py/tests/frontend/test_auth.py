"""Sign-in end to end, in-process: real SMTP sink, real SecantusDB, local OIDC and GitHub."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request

from tests.frontend.auth_support import (
    BASE,
    HTML,
    browser,
    csrf_from,
    link_in,
    open_link,
    request_link,
    running,
    sign_in_by_link,
)
from tests.services.email_support import SMTPSink
from tests.services.ratelimit_support import steady_rate_limits
from vibetuner import create_app
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.testing.idp import GitHubEmail, LocalGitHub, LocalOIDCProvider

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]


# --- magic links -------------------------------------------------------------------------


async def test_magic_link_signs_in_through_real_smtp(app: FastAPI, smtp_sink: SMTPSink) -> None:
    async with browser(app) as client:
        sent = await request_link(client, "Ada@Example.com", "/account")
        assert sent.status_code == 200 and "Check your email" in sent.text
        before = client.cookies["vt_session"]
        message = smtp_sink.received[-1]
        assert message.rcpt_tos == ["ada@example.com"]
        assert "sign-in link" in message.message["Subject"]
        kinds = {p.get_content_type() for p in message.message.walk()}
        assert {"text/plain", "text/html"} <= kinds
        opened = await open_link(client, link_in(smtp_sink))
        assert opened.status_code == 303 and opened.headers["location"] == "/account"
        assert client.cookies["vt_session"] != before, "the session id rotates on sign-in"
        account = await client.get("/account")
    assert account.status_code == 200 and "ada@example.com" in account.text
    from vibetuner.data.models.user import User

    user = await User.by_email("ada@example.com")
    assert user is not None and user.last_login_at is not None


async def test_replayed_tampered_and_expired_links_get_400(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    from vibetuner.data.models.magic_link import MagicLinkToken

    async with browser(app) as client:
        await request_link(client, "bob@example.com")
        path = link_in(smtp_sink).removeprefix(BASE)
        assert (await open_link(client, path)).status_code == 303
        replay = await client.get(path)
        tampered = await client.get(path[:-4] + "AAAA")
    async with browser(app) as client:
        await request_link(client, "bob@example.com")
        fresh = link_in(smtp_sink).removeprefix(BASE)
        await MagicLinkToken.find({"email": "bob@example.com", "used_at": None}).update_many(
            {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
        )
        expired = await client.get(fresh)
    for response, problem in ((replay, "used"), (tampered, "unknown"), (expired, "expired")):
        assert response.status_code == 400
        assert f'data-link-problem="{problem}"' in response.text
        assert "Send me a new link" in response.text


async def test_next_is_only_followed_to_local_paths(app: FastAPI, smtp_sink: SMTPSink) -> None:
    async with browser(app) as client:
        response = await sign_in_by_link(
            client, smtp_sink, "eve@example.com", "https://evil.example"
        )
    assert response.status_code == 303 and response.headers["location"] == "/"


async def test_known_and_unknown_emails_get_the_same_answer(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    from vibetuner.services.auth import get_or_create_user

    await get_or_create_user("known@example.com")
    async with browser(app, "10.1.0.1") as a, browser(app, "10.1.0.2") as b:
        known = await request_link(a, "known@example.com")
        unknown = await request_link(b, "unknown@example.com")
    assert known.status_code == unknown.status_code == 200

    def shape(response: httpx.Response, email: str) -> str:
        text = response.text.replace(email, "EMAIL")
        return re.sub(r'nonce="[^"]+"|[A-Za-z0-9_\-]{43}', "", text)

    assert shape(known, "known@example.com") == shape(unknown, "unknown@example.com")


async def test_invalid_email_is_a_422_not_a_500(app: FastAPI) -> None:
    async with browser(app) as client:
        response = await request_link(client, "not-an-email")
    assert response.status_code == 422 and "valid email address" in response.text


async def test_rate_limited_requests_get_a_429_page_or_partial(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app, "10.2.0.2") as client:
        with steady_rate_limits():
            for _ in range(3):
                assert (await request_link(client, "target@example.com")).status_code == 200
            blocked = await request_link(client, "target@example.com")
            token = csrf_from((await client.get("/auth/login")).text)
            partial = await client.post(
                "/auth/magic-link",
                data={"email": "target@example.com"},
                headers={"HX-Request": "true", "X-CSRF-Token": token},
            )
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "Too many attempts" in blocked.text and "<!DOCTYPE html>" in blocked.text
    assert partial.status_code == 429 and "<html" not in partial.text


# --- sessions ----------------------------------------------------------------------------


async def test_logout_needs_a_post_and_the_old_cookie_is_dead(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "dan@example.com")
        old = client.cookies["vt_session"]
        confirm = await client.get("/auth/logout")
        assert confirm.status_code == 200 and "Sign out?" in confirm.text
        assert (await client.get("/account")).status_code == 200, "a GET does not sign out"
        no_token = await client.post("/auth/logout")
        assert no_token.status_code == 403
        done = await client.post("/auth/logout", data={"csrf_token": csrf_from(confirm.text)})
        assert done.status_code == 303
    async with browser(app) as replay:
        replay.cookies.set("vt_session", old)
        response = await replay.get("/account")
    assert response.status_code == 303 and response.headers["location"].startswith("/auth/login")


async def test_sign_out_everywhere(app: FastAPI, smtp_sink: SMTPSink) -> None:
    async with browser(app, "10.3.0.1") as laptop, browser(app, "10.3.0.2") as phone:
        await sign_in_by_link(laptop, smtp_sink, "fay@example.com")
        await sign_in_by_link(phone, smtp_sink, "fay@example.com")
        sessions = await laptop.get("/account/sessions")
        assert sessions.text.count("data-session") == 2
        response = await laptop.post(
            "/account/sessions/sign-out-everywhere", data={"csrf_token": csrf_from(sessions.text)}
        )
        assert response.status_code == 303
        assert (await phone.get("/account")).status_code == 303
        assert (await laptop.get("/account")).status_code == 303


async def test_pages_need_sign_in_and_htmx_gets_401(app: FastAPI) -> None:
    async with browser(app) as client:
        page = await client.get("/account/sessions?x=1")
        partial = await client.get(
            "/account/name/edit",
            headers={"HX-Request": "true", "HX-Current-URL": f"{BASE}/account"},
        )
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=/account/sessions%3Fx%3D1"
    assert (
        partial.status_code == 401 and partial.headers["hx-redirect"] == "/auth/login?next=/account"
    )


async def test_profile_name_edits_inline_with_the_htmx_header(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "gus@example.com")
        profile = await client.get("/account")
        token = re.search(r'"X-CSRF-Token"\] = "([^"]+)"', profile.text)
        assert token, "the skeleton configures htmx to send the CSRF header"
        hx = {"HX-Request": "true", "X-CSRF-Token": token.group(1)}
        form = await client.get("/account/name/edit", headers=hx)
        assert "<form" in form.text and "<html" not in form.text
        saved = await client.post("/account/name", data={"name": "  Gus G  "}, headers=hx)
        empty = await client.post("/account/name", data={"name": " "}, headers=hx)
        header = await client.get("/")
    assert saved.status_code == 200 and "Gus G" in saved.text and "<html" not in saved.text
    assert empty.status_code == 422 and "Name cannot be empty." in empty.text
    assert "Gus G" in header.text or header.status_code == 404


# --- OAuth -------------------------------------------------------------------------------


async def oauth_dance(
    client: httpx.AsyncClient, provider: str, next_url: str = "/"
) -> httpx.Response:
    start = await client.get(f"/auth/oauth/{provider}/start?next={next_url}")
    assert start.status_code == 303
    async with httpx.AsyncClient() as outside:
        at_provider = await outside.get(start.headers["location"])
    assert at_provider.status_code in (302, 303), at_provider.text
    callback = at_provider.headers["location"]
    assert callback.startswith(f"{BASE}/auth/oauth/{provider}/callback")
    return await client.get(callback.removeprefix(BASE))


async def test_oidc_sign_in_creates_and_links_a_user(app: FastAPI, idp: LocalOIDCProvider) -> None:
    from vibetuner.data.models.oauth_account import OAuthAccount
    from vibetuner.data.models.user import User

    idp.next_identity(email="hal@example.com", name="Hal", email_verified=True)
    async with browser(app) as client:
        done = await oauth_dance(client, "acme", "/account")
        assert done.status_code == 303 and done.headers["location"] == "/account"
        account = await client.get("/account")
    assert "hal@example.com" in account.text and "Hal" in account.text
    user = await User.by_email("hal@example.com")
    assert user is not None
    linked = await OAuthAccount.find_one({"provider": "acme", "user_id": user.id})
    assert linked is not None and linked.email_verified


async def test_unverified_email_is_never_linked_to_an_existing_user(
    app: FastAPI, idp: LocalOIDCProvider
) -> None:
    from vibetuner.data.models.oauth_account import OAuthAccount
    from vibetuner.services.auth import get_or_create_user

    victim = await get_or_create_user("ivy@example.com")
    idp.next_identity(email="ivy@example.com", email_verified=False, sub="attacker")
    async with browser(app) as client:
        response = await oauth_dance(client, "acme")
        account = await client.get("/account")
    assert response.status_code == 400 and "not verified" in response.text
    assert account.status_code == 303
    assert await OAuthAccount.find_one({"user_id": victim.id}) is None


async def test_state_mismatch_and_denial_get_400(app: FastAPI, idp: LocalOIDCProvider) -> None:
    async with browser(app) as client:
        await client.get("/auth/oauth/acme/start")
        forged = await client.get("/auth/oauth/acme/callback?state=forged&code=abc")
        await client.get("/auth/oauth/acme/start")
        non_ascii = await client.get("/auth/oauth/acme/callback?state=%C2%B2&code=abc")
        await client.get("/auth/oauth/acme/start")
        unstarted = await client.get("/auth/oauth/acme/callback?code=abc")
        start = await client.get("/auth/oauth/acme/start")
        state = re.search(r"state=([^&]+)", start.headers["location"])
        assert state
        denied = await client.get(
            f"/auth/oauth/acme/callback?state={state.group(1)}&error=access_denied"
        )
        unknown = await client.get("/auth/oauth/nope/start")
    assert forged.status_code == 400 and "state mismatch" in forged.text
    assert non_ascii.status_code == 400, "compare_digest raises on non-ASCII: was a 500"
    assert unstarted.status_code == 400
    assert denied.status_code == 400 and "cancelled" in denied.text
    assert unknown.status_code == 404


async def test_github_sign_in_uses_the_verified_primary_email(
    app: FastAPI, github: LocalGitHub
) -> None:
    github.next_identity(
        "octo",
        name="Octo Cat",
        emails=[
            GitHubEmail("old@example.com", primary=False, verified=True),
            GitHubEmail("octo@example.com", primary=True, verified=True),
        ],
    )
    async with browser(app) as client:
        done = await oauth_dance(client, "github")
        account = await client.get("/account")
    assert done.status_code == 303
    assert "octo@example.com" in account.text


async def test_login_page_lists_the_providers(app: FastAPI) -> None:
    async with browser(app) as client:
        page = await client.get("/auth/login")
    assert 'data-provider="acme"' in page.text and "Continue with Acme ID" in page.text
    assert 'data-provider="github"' in page.text


async def test_auth_base_template_sends_visitors_to_sign_in(
    app: FastAPI, smtp_sink: SMTPSink, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A page extending base/auth.html.jinja is guarded even when its route forgot to be."""
    from vibetuner.frontend._templating import get_templates, render_template

    folder = tmp_path_factory.mktemp("tpl")
    (folder / "members.html.jinja").write_text(
        '{% extends "base/auth.html.jinja" %}{% block content %}members only{% endblock %}'
    )
    get_templates().env.loader.searchpath.insert(0, str(folder))  # type: ignore[union-attr]

    @app.get("/members")
    async def members(request: Request):  # type: ignore[no-untyped-def]
        return render_template(request, "members.html.jinja")

    async with browser(app) as client:
        visitor = await client.get("/members")
        await sign_in_by_link(client, smtp_sink, "mo@example.com")
        member = await client.get("/members")
    assert visitor.status_code == 303 and "next=/members" in visitor.headers["location"]
    assert member.status_code == 200 and "members only" in member.text


# --- one request path: FastAPI's semantics on every route --------------------------------


async def test_a_dependency_override_applies_to_the_account_page(app: FastAPI) -> None:
    """`app.dependency_overrides` reaches every route, the account pages included."""
    from vibetuner.frontend._deps import require_user
    from vibetuner.services.sessions import SessionUser

    async def stand_in() -> SessionUser:
        return SessionUser(id="0" * 24, email="stand-in@example.com", name="Stand In")

    app.dependency_overrides[require_user] = stand_in
    try:
        async with browser(app) as client:
            page = await client.get("/account")
    finally:
        app.dependency_overrides.clear()
    assert page.status_code == 200, "without the override a visitor is sent to sign in"
    assert "Stand In" in page.text


async def test_routers_given_to_create_app_can_replace_a_framework_page(
    auth_env: pytest.MonkeyPatch,
) -> None:
    """Routes match in inclusion order: the app's `routers` first, then the framework's."""
    from fastapi import APIRouter
    from fastapi.responses import PlainTextResponse

    mine, later = APIRouter(), APIRouter()

    @mine.get("/auth/login")
    async def own_login() -> PlainTextResponse:
        return PlainTextResponse("our own sign-in page")

    @later.get("/account")
    async def shadowed() -> PlainTextResponse:
        return PlainTextResponse("never reached: the framework's /account comes first")

    application = create_app(routers=[mine])
    setup_middleware(application)
    application.include_router(later)
    async with running(application), browser(application) as client:
        login = await client.get("/auth/login")
        account = await client.get("/account")
    assert login.text == "our own sign-in page"
    assert account.status_code == 303, "the framework's page, which sends visitors to sign in"


async def test_clients_that_ask_for_json_get_401_not_a_redirect(app: FastAPI) -> None:
    """API clients get a status they can act on; browsers get the sign-in page."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        api = await client.get("/account", headers={"Accept": "application/json"})
        page = await client.get("/account", headers=HTML)
        anything = await client.get("/account", headers={"Accept": "*/*"})
    assert api.status_code == 401
    assert api.json() == {"detail": "Sign in first: this needs a signed-in user."}
    assert page.status_code == 303 and page.headers["location"] == "/auth/login?next=/account"
    assert anything.status_code == 303, "no preference: the page's answer, as before"


async def test_require_role_admits_only_holders_of_the_role(
    auth_env: pytest.MonkeyPatch, smtp_sink: SMTPSink
) -> None:
    """Visitors are sent to sign in, signed-in users without the role get 403, holders pass."""
    from fastapi import APIRouter, Depends
    from fastapi.responses import PlainTextResponse

    from vibetuner import SessionUser, require_role
    from vibetuner.services.users import create_user

    admin = APIRouter()

    @admin.get("/admin")
    async def panel(user: SessionUser = Depends(require_role("admin"))) -> PlainTextResponse:  # noqa: B008
        return PlainTextResponse(f"hello {user.email}")

    application = create_app(routers=[admin])
    setup_middleware(application)
    async with running(application):
        await create_user("boss@example.com", roles=["admin"])
        async with browser(application) as visitor, browser(application) as member:
            anonymous = await visitor.get("/admin")
            await sign_in_by_link(member, smtp_sink, "plain@example.com")
            refused = await member.get("/admin")
        async with browser(application) as boss:
            await sign_in_by_link(boss, smtp_sink, "boss@example.com")
            allowed = await boss.get("/admin")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/auth/login")
    assert refused.status_code == 403 and "do not have access" in refused.text
    assert allowed.status_code == 200 and allowed.text == "hello boss@example.com"


@pytest.mark.parametrize("body", ["<html>rate limited</html>", "{}", '{"id": null}', "[1, 2]"])
async def test_a_garbled_github_profile_is_a_400_not_a_500(
    app: FastAPI, github: LocalGitHub, body: str
) -> None:
    github.next_identity("garbled", emails=[GitHubEmail("garbled@example.com", primary=True)])
    github.garble_next("user", body)
    async with browser(app) as client:
        done = await oauth_dance(client, "github")
        account = await client.get("/account")
    assert done.status_code == 400 and "GitHub did not tell us who you are" in done.text
    assert account.status_code == 303, "no one is signed in"


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"message": "moved"}', '[{"primary": 1}]'])
async def test_garbled_github_emails_sign_no_one_in_and_are_not_a_500(
    app: FastAPI, github: LocalGitHub, body: str
) -> None:
    github.next_identity("mailless", emails=[GitHubEmail("mailless@example.com", primary=True)])
    github.garble_next("emails", body)
    async with browser(app) as client:
        done = await oauth_dance(client, "github")
        account = await client.get("/account")
    assert done.status_code == 400, done.status_code
    assert account.status_code == 303
