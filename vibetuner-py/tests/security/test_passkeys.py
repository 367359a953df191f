"""Passkey defences: a challenge works once (even after a failed answer), expires, and only
in the session that asked for it; the signature counter must grow; forged, foreign and
malformed answers get a 4xx that says why; sign-ins are CSRF-checked and rate-limited; one
user never reaches another's passkeys (issue #17, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from tests.frontend.auth_support import BASE, browser, sign_in_by_link
from tests.frontend.passkey_support import (
    authenticator,
    json_headers,
    register,
    send_answer,
    sign_in_options,
    sign_in_with,
    stranger,
    token_of,
)
from tests.services.email_support import SMTPSink
from tests.services.ratelimit_support import steady_rate_limits
from vibetuner.testing import SoftAuthenticator

pytest_plugins = ["tests.services.email_support", "tests.frontend.auth_support"]


async def _with_passkey(app: FastAPI, sink: SMTPSink, email: str) -> SoftAuthenticator:
    device = authenticator()
    async with browser(app) as client:
        await sign_in_by_link(client, sink, email)
        added = await register(client, device)
        assert added.status_code == 201, added.text
    return device


async def _stored_count(email: str) -> int:
    from vibetuner.data.models.passkey import Passkey
    from vibetuner.data.models.user import User

    user = await User.by_email(email)
    assert user is not None
    passkey = await Passkey.find_one({"user_id": user.id})
    assert passkey is not None
    return passkey.sign_count


# --- challenges --------------------------------------------------------------------------------


async def test_a_challenge_works_once_even_when_its_first_answer_failed(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    device = await _with_passkey(app, smtp_sink, "once@example.com")
    async with browser(app) as client:
        token, options = await sign_in_options(client)
        forged = await send_answer(client, token, device.get(options, tamper=True))
        assert forged.status_code == 400 and forged.json()["problem"] == "bad-signature"
        retried = await send_answer(client, token, device.get(options))
        assert retried.status_code == 400 and retried.json()["problem"] == "used-challenge"
        assert (await client.get("/account")).status_code != 200

    async with browser(app) as client:
        token, options = await sign_in_options(client)
        answer = device.get(options)
        assert (await send_answer(client, token, answer)).status_code == 200
        replayed = await send_answer(client, await token_of(client, "/account"), answer)
    assert replayed.status_code == 400 and replayed.json()["problem"] == "used-challenge"
    assert "already used" in replayed.json()["detail"]


async def test_an_expired_challenge_is_refused(app: FastAPI, smtp_sink: SMTPSink) -> None:
    from vibetuner.data.models.passkey import PasskeyChallenge

    device = await _with_passkey(app, smtp_sink, "late@example.com")
    async with browser(app) as client:
        token, options = await sign_in_options(client)
        await PasskeyChallenge.find({"key": options["challenge"]}).update_many(
            {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
        )
        late = await send_answer(client, token, device.get(options))
    assert late.status_code == 400 and late.json()["problem"] == "expired-challenge"
    assert "expired" in late.json()["detail"]


async def test_challenges_expire_after_their_max_age(
    auth_env: pytest.MonkeyPatch, smtp_sink: SMTPSink
) -> None:
    from vibetuner import create_app
    from vibetuner.data.models.passkey import PasskeyChallenge
    from vibetuner.frontend._middleware import setup_middleware

    auth_env.setenv("PASSKEY_CHALLENGE_MAX_AGE", "90")
    application = create_app()
    setup_middleware(application)
    async with application.router.lifespan_context(application), browser(application) as client:
        _token, options = await sign_in_options(client)
        stored = await PasskeyChallenge.find_one({"key": options["challenge"]})
    assert stored is not None and stored.used_at is None
    left = stored.expires_at - datetime.now(UTC)
    assert timedelta(seconds=80) < left <= timedelta(seconds=90)
    assert options["timeout"] == 60000


async def test_a_challenge_only_works_in_the_session_that_asked_for_it(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    device = await _with_passkey(app, smtp_sink, "mine@example.com")
    async with browser(app) as attacker, browser(app) as victim:
        _token, options = await sign_in_options(attacker)
        victim_token = await token_of(victim, "/auth/login")
        moved = await send_answer(victim, victim_token, device.get(options))
    assert moved.status_code == 400 and moved.json()["problem"] == "no-challenge"


async def test_a_registration_challenge_is_not_a_sign_in_challenge(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    device = await _with_passkey(app, smtp_sink, "kinds@example.com")
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "kinds@example.com")
        token = await token_of(client, "/account/passkeys")
        options = await client.post(
            "/account/passkeys/options", json={"name": "x"}, headers=json_headers(token)
        )
        register_options = options.json()
        answer = device.get({"rpId": "testserver", "challenge": register_options["challenge"]})
        crossed = await send_answer(client, token, answer)
    assert crossed.status_code == 400 and crossed.json()["problem"] == "no-challenge"


# --- the counter and the signature -------------------------------------------------------------


async def test_the_signature_counter_must_grow_and_is_stored(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    device = await _with_passkey(app, smtp_sink, "count@example.com")
    async with browser(app) as client:
        assert (await sign_in_with(client, device, counter=3)).status_code == 200
    assert await _stored_count("count@example.com") == 3
    for stale in (3, 2):  # a clone, or an answer replayed under a fresh challenge
        async with browser(app) as client:
            cloned = await sign_in_with(client, device, counter=stale)
            assert cloned.status_code == 400 and cloned.json()["problem"] == "counter-regression"
            assert (await client.get("/account")).status_code != 200
    assert await _stored_count("count@example.com") == 3
    async with browser(app) as client:
        assert (await sign_in_with(client, device, counter=4)).status_code == 200
    assert await _stored_count("count@example.com") == 4


async def test_an_answer_for_another_origin_or_key_is_refused(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    device = await _with_passkey(app, smtp_sink, "origin@example.com")
    async with browser(app) as client:
        elsewhere = await sign_in_with(client, device, origin="https://evil.example")
    assert elsewhere.status_code == 400 and elsewhere.json()["problem"] == "bad-signature"
    async with browser(app) as client:
        token, options = await sign_in_options(client)
        answer = device.get(options)
        answer["response"]["userHandle"] = "AAAAAAAAAAAAAAAA"  # another user's handle
        foreign = await send_answer(client, token, answer)
    assert foreign.status_code == 400 and foreign.json()["problem"] == "unknown-credential"
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "origin@example.com")
        phished = await register(client, authenticator(), origin="https://evil.example")
    assert phished.status_code == 400 and phished.json()["problem"] == "bad-signature"


@pytest.mark.parametrize(
    ("credential", "status"),
    [
        ({}, 400),
        ({"id": "x", "rawId": "!!", "type": "public-key", "response": {}}, 400),
        ({"id": "QQ", "rawId": "QQ", "type": "public-key",
          "response": {"clientDataJSON": "bm90IGpzb24", "authenticatorData": "QQ",
                       "signature": "QQ"}}, 400),
        ("not an object", 422),
    ],
)  # fmt: skip
async def test_malformed_answers_get_a_clear_4xx(
    app: FastAPI, credential: object, status: int
) -> None:
    async with browser(app) as client:
        token, _options = await sign_in_options(client)
        response = await send_answer(client, token, credential)  # type: ignore[arg-type]
    assert response.status_code == status
    detail = response.json()["detail"]
    assert detail and "Traceback" not in str(detail)


# --- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [{}, {1: 2, 3: -7}, 5], ids=["empty", "no-curve", "not-a-map"])
async def test_a_registration_with_a_malformed_public_key_is_a_400(
    app: FastAPI, smtp_sink: SMTPSink, monkeypatch: pytest.MonkeyPatch, key: object
) -> None:
    """The attestation checks out but the key in it is not a usable COSE key."""
    import cbor2

    from vibetuner.testing._webauthn import Credential

    monkeypatch.setattr(Credential, "cose_public_key", lambda _self: cbor2.dumps(key))
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "badkey@example.com")
        added = await register(client, authenticator())
        listed = await client.get("/account/passkeys")
    assert added.status_code == 400 and added.json()["problem"] == "bad-signature"
    assert listed.status_code == 200 and "data-passkey>" not in listed.text


async def test_the_owner_hears_of_every_passkey_added(app: FastAPI, smtp_sink: SMTPSink) -> None:
    """A passkey signs in alone and outlives "sign out everywhere": one added from a stolen
    session must not go unseen, so the account's address is told of each new one."""
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "told@example.com")
        before = len(smtp_sink.received)
        added = await register(client, authenticator(), "<b>Mallory's</b> key")
    assert added.status_code == 201, added.text
    [notice] = smtp_sink.received[before:]
    message = notice.message
    assert notice.rcpt_tos == ["told@example.com"]
    assert message["Subject"] == "A passkey was added to your Vibetuner App account"
    parts = {part.get_content_type(): part for part in message.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "<b>Mallory's</b> key" in text and f"{BASE}/account/passkeys" in text
    assert "&lt;b&gt;Mallory" in html and "<b>Mallory" not in html


async def test_a_notice_that_cannot_be_sent_does_not_undo_the_passkey(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "unmailed@example.com")
        smtp_sink.handler.refuse = True
        added = await register(client, authenticator())
    assert added.status_code == 201, added.text
    assert await _stored_count("unmailed@example.com") == 0  # stored, counter not yet used


async def test_a_passkey_sign_in_needs_the_csrf_token(app: FastAPI, smtp_sink: SMTPSink) -> None:
    device = await _with_passkey(app, smtp_sink, "csrf@example.com")
    async with browser(app) as client:
        _token, options = await sign_in_options(client)
        forged = await client.post(
            "/auth/passkey", json={"credential": device.get(options)},
            headers={"Accept": "application/json"},
        )  # fmt: skip
        assert forged.status_code == 403
    async with browser(app) as sessionless:
        cold = await sessionless.post(
            "/auth/passkey", json={"credential": device.get(options)},
            headers={"Accept": "application/json"},
        )  # fmt: skip
    assert cold.status_code == 403 and cold.json()["problem"] == "csrf"


async def test_passkey_sign_ins_are_rate_limited(
    auth_env: pytest.MonkeyPatch, smtp_sink: SMTPSink
) -> None:
    from vibetuner import create_app
    from vibetuner.frontend._middleware import setup_middleware

    auth_env.setenv("RATE_LIMIT_PASSKEY", "2/minute")
    auth_env.setenv("RATE_LIMIT_PASSKEY_OPTIONS", "3/minute")
    application = create_app()
    setup_middleware(application)
    device = stranger()
    async with application.router.lifespan_context(application):
        with steady_rate_limits():
            statuses = []
            for _ in range(3):
                async with browser(application, "203.0.113.9") as client:
                    statuses.append((await sign_in_with(client, device)).status_code)
            async with browser(application, "203.0.113.9") as client:
                token = await token_of(client, "/auth/login")
                options = await client.post(
                    "/auth/passkey/options", json={}, headers=json_headers(token)
                )
            async with browser(application, "198.51.100.1") as elsewhere:
                other = await sign_in_with(elsewhere, device)
    assert statuses == [400, 400, 429]
    assert options.status_code == 429 and "Retry-After" in options.headers
    assert other.status_code == 400, "another network has its own count"


async def test_nobody_reaches_another_users_passkeys(app: FastAPI, smtp_sink: SMTPSink) -> None:
    from vibetuner.data.models.passkey import Passkey

    await _with_passkey(app, smtp_sink, "owner@example.com")
    [theirs] = await Passkey.find_all().to_list()
    async with browser(app) as mallory:
        await sign_in_by_link(mallory, smtp_sink, "mallory@example.com")
        token = await token_of(mallory, "/account/passkeys")
        form = {"name": "mine now", "csrf_token": token}
        attempts = [
            await mallory.get(f"/account/passkeys/{theirs.id}/edit"),
            await mallory.post(f"/account/passkeys/{theirs.id}/name", data=form),
            await mallory.post(f"/account/passkeys/{theirs.id}/delete", data=form),
        ]
        listed = await mallory.get("/account/passkeys")
    assert [r.status_code for r in attempts] == [404, 404, 404]
    assert theirs.name not in listed.text or "No passkeys yet." in listed.text
    kept = await Passkey.get(theirs.id)
    assert kept is not None and kept.name == theirs.name


async def test_the_same_passkey_cannot_be_registered_twice(
    app: FastAPI, smtp_sink: SMTPSink
) -> None:
    from vibetuner.testing._webauthn import b64url

    device = authenticator()
    async with browser(app) as client:
        await sign_in_by_link(client, smtp_sink, "twice@example.com")
        assert (await register(client, device)).status_code == 201
        [known] = device.credentials
        token = await token_of(client, "/account/passkeys")
        options = await client.post(
            "/account/passkeys/options", json={"name": "Again"}, headers=json_headers(token)
        )
        assert [c["id"] for c in options.json()["excludeCredentials"]] == [b64url(known)]
        again = await register(client, device, "Again", credential_id=known)
    assert again.status_code == 409 and again.json()["problem"] == "already-registered"
