"""Sign-in refuses every ID token it cannot trust (issue #14, item 8).

The local provider runs over real HTTP on a free port and issues, once each, the bad tokens an
attacker or a broken provider would send. Each test names the check in
services/oauth/_flow.py that refuses its token; removing that check makes the test fail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from vibetuner import create_app
from vibetuner.config import reset_settings
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.frontend._middleware import setup_middleware
from vibetuner.testing.idp import Defect, LocalOIDCProvider, oidc_provider

BASE = "http://testserver"
HTML = {"Accept": "text/html"}
REFUSED = "sent an identity we could not verify"


@pytest.fixture
def idp() -> Iterator[LocalOIDCProvider]:
    """A provider that, like Google, refuses a sign-in without PKCE (S256)."""
    with oidc_provider(require_pkce=True) as provider:
        yield provider


def _env(
    env: pytest.MonkeyPatch, mongo: EmbeddedMongo, idp: LocalOIDCProvider
) -> pytest.MonkeyPatch:
    """Two providers on the one local IdP: a generic OIDC one ("acme") and Google."""
    from vibetuner.services.sessions import get_session_store

    env.setenv("DATABASE_URL", f"{mongo.url}_oidc_{uuid.uuid4().hex[:8]}")
    env.setenv("BASE_URL", BASE)
    acme = idp.register_client([f"{BASE}/auth/oauth/acme/callback"])
    provider = {"name": "acme", "title": "Acme ID", "issuer": idp.issuer,
                "client_id": acme.client_id, "client_secret": acme.client_secret}  # fmt: skip
    env.setenv("OIDC_PROVIDERS", json.dumps([provider]))
    google = idp.register_client([f"{BASE}/auth/oauth/google/callback"])
    env.setenv("GOOGLE_CLIENT_ID", google.client_id)
    env.setenv("GOOGLE_CLIENT_SECRET", google.client_secret)
    env.setenv("GOOGLE_DISCOVERY_URL", idp.metadata_url)
    for name in ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "REDIS_URL", "SESSION_BACKEND"):
        env.delenv(name, raising=False)
    reset_settings()
    get_session_store.cache_clear()
    return env


@pytest.fixture
async def app(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo, idp: LocalOIDCProvider
) -> AsyncIterator[FastAPI]:
    from vibetuner.services.sessions import get_session_store

    _env(settings_env, vibetuner_mongo, idp)
    application = create_app()
    setup_middleware(application)
    async with application.router.lifespan_context(application):
        yield application
    get_session_store.cache_clear()


def browser(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=HTML)


async def start(client: httpx.AsyncClient, provider: str) -> str:
    """Begin signing in; the provider's authorization URL the browser is sent to."""
    response = await client.get(f"/auth/oauth/{provider}/start?next=/account")
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def sign_in(client: httpx.AsyncClient, provider: str) -> httpx.Response:
    """The whole dance: our start, the provider's answer, our callback."""
    async with httpx.AsyncClient() as outside:
        at_provider = await outside.get(await start(client, provider))
    assert at_provider.status_code == 302, at_provider.text
    callback = at_provider.headers["location"]
    assert callback.startswith(f"{BASE}/auth/oauth/{provider}/callback?")
    return await client.get(callback.removeprefix(BASE))


async def signed_in_sessions() -> int:
    """Sessions that carry a user, whatever their id."""
    from vibetuner.services.sessions import MongoSessionStore, get_session_store

    store = get_session_store()
    assert isinstance(store, MongoSessionStore)
    return await store.collection.count_documents({"user_id": {"$ne": None}})


async def assert_refused(response: httpx.Response, client: httpx.AsyncClient, email: str) -> None:
    """A clear 400 page, nobody signed in, no user made for the email in the token."""
    from vibetuner.data.models.oauth_account import OAuthAccount
    from vibetuner.data.models.user import User

    assert response.status_code == 400, response.text
    assert REFUSED in response.text
    assert "Traceback" not in response.text
    account = await client.get("/account")
    assert account.status_code == 303 and "/auth/login" in account.headers["location"]
    assert await User.by_email(email) is None
    assert await OAuthAccount.find_one({"email": email}) is None
    assert await signed_in_sessions() == 0


# --- the control: a good token signs in, through the same harness ---------------------


async def test_a_good_id_token_signs_in(app: FastAPI, idp: LocalOIDCProvider) -> None:
    from vibetuner.data.models.user import User

    idp.next_identity(email="ada@example.com", name="Ada")
    async with browser(app) as client:
        done = await sign_in(client, "acme")
        account = await client.get("/account")
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert account.status_code == 200 and "ada@example.com" in account.text
    assert await User.by_email("ada@example.com") is not None
    assert await signed_in_sessions() == 1


# --- one bad token per check -------------------------------------------------------------


@pytest.mark.parametrize(
    "defect",
    [
        "wrong_key",  # the signature: jwt.decode against the provider's JWKS
        "unsigned",  # the signature: algorithms=["RS256", "ES256"] (never "none")
        "wrong_issuer",  # iss: the discovery document's issuer
        "wrong_audience",  # aud: our client_id
        "expired",  # exp: validate() checks it when present
        "no_expiry",  # exp: essential, so a token without one is refused
        "no_subject",  # sub: essential, so no KeyError (a 500) later
        "extra_audience",  # aud: _only_ours, no audience but our client_id
        "wrong_party",  # azp: _only_ours, issued to our client_id if named
    ],
)
async def test_a_bad_id_token_is_refused(
    app: FastAPI, idp: LocalOIDCProvider, defect: Defect
) -> None:
    idp.next_identity(email="eve@example.com")
    idp.next_id_token(defect)
    async with browser(app) as client:
        response = await sign_in(client, "acme")
        assert "Acme ID " + REFUSED in response.text
        await assert_refused(response, client, "eve@example.com")


async def test_a_replayed_id_token_is_refused(app: FastAPI, idp: LocalOIDCProvider) -> None:
    """nonce: a token captured from Ada's sign-in, replayed into Eve's, does not sign Eve in
    as Ada (every other claim of it is valid)."""
    from vibetuner.data.models.user import User

    idp.next_identity(email="ada@example.com")
    async with browser(app) as ada:
        assert (await sign_in(ada, "acme")).status_code == 303
    ada_user = await User.by_email("ada@example.com")
    assert ada_user is not None and await signed_in_sessions() == 1

    idp.next_identity(email="eve@example.com")
    idp.next_id_token("replayed_nonce")
    async with browser(app) as eve:
        response = await sign_in(eve, "acme")
        account = await eve.get("/account")
    assert response.status_code == 400 and REFUSED in response.text
    assert account.status_code == 303
    assert await User.by_email("eve@example.com") is None
    assert await signed_in_sessions() == 1  # Ada's own, and no other


# --- Google: the same checks, through the Google branch of the providers -----------------


async def test_google_sign_in_verifies_its_id_tokens(app: FastAPI, idp: LocalOIDCProvider) -> None:
    from vibetuner.data.models.oauth_account import OAuthAccount
    from vibetuner.data.models.user import User

    async with browser(app) as client:
        login = await client.get("/auth/login")
    assert 'data-provider="google"' in login.text

    idp.next_identity(email="gus@example.com", name="Gus")
    async with browser(app) as client:
        done = await sign_in(client, "google")
        account = await client.get("/account")
    assert done.status_code == 303 and "gus@example.com" in account.text
    gus = await User.by_email("gus@example.com")
    assert gus is not None
    assert await OAuthAccount.find_one({"provider": "google", "user_id": gus.id}) is not None

    forged: tuple[Defect, ...] = ("wrong_key", "wrong_audience")
    for defect in forged:
        idp.next_identity(email="mallory@example.com")
        idp.next_id_token(defect)
        async with browser(app) as client:
            response = await sign_in(client, "google")
            account = await client.get("/account")
        assert response.status_code == 400, defect
        assert "Google " + REFUSED in response.text
        assert account.status_code == 303
        assert await User.by_email("mallory@example.com") is None
    assert await signed_in_sessions() == 1  # Gus's


# --- PKCE and the code's lifetime --------------------------------------------------------


async def test_sign_in_sends_an_s256_code_challenge(app: FastAPI, idp: LocalOIDCProvider) -> None:
    """The provider (require_pkce) refuses a request without one, and checks the verifier."""
    async with browser(app) as client:
        query = parse_qs(urlsplit(await start(client, "acme")).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # BASE64URL(SHA-256), unpadded
    assert query["nonce"] and query["state"]


async def test_an_expired_code_is_refused(
    settings_env: pytest.MonkeyPatch, vibetuner_mongo: EmbeddedMongo
) -> None:
    from vibetuner.data.models.user import User

    with oidc_provider(require_pkce=True, code_ttl=0) as stale:
        _env(settings_env, vibetuner_mongo, stale)
        application = create_app()
        setup_middleware(application)
        async with application.router.lifespan_context(application):
            stale.next_identity(email="old@example.com")
            async with browser(application) as client:
                response = await sign_in(client, "acme")
                account = await client.get("/account")
            assert response.status_code == 400
            assert "Acme ID refused the sign-in code" in response.text
            assert account.status_code == 303
            assert await User.by_email("old@example.com") is None


async def test_an_unreachable_provider_is_a_503_not_a_500(
    app: FastAPI, idp: LocalOIDCProvider
) -> None:
    idp.next_identity(email="ada@example.com")
    async with browser(app) as client:
        async with httpx.AsyncClient() as outside:
            at_provider = await outside.get(await start(client, "acme"))
        idp.stop()  # the code is issued; the provider goes away before we redeem it
        response = await client.get(at_provider.headers["location"].removeprefix(BASE))
    assert response.status_code == 503 and response.headers["retry-after"]
    assert "Acme ID is unavailable right now" in response.text
    assert await signed_in_sessions() == 0


async def test_a_configuration_naming_another_issuer_is_refused(
    app: FastAPI, idp: LocalOIDCProvider
) -> None:
    """OpenID Connect Discovery 4.3: the issuer a configuration names must be the URL it was
    read under; if not, it is another issuer's, whose ID tokens would pass as this one's."""
    idp.publish_issuer("https://issuer.invalid")
    async with browser(app) as client:
        response = await client.get("/auth/oauth/acme/start?next=/account")
    assert response.status_code == 400, response.text
    assert "Acme ID did not publish its configuration" in response.text
    assert await signed_in_sessions() == 0
