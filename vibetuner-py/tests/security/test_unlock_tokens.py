"""Unlock tokens for the debug console: forged, wrong-key and expired ones are refused
before the database; a fresh one is consumed once, and a replay is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.services.unlock import UnlockRefused, consume, issue_token, verify_token

KEY = "k" * 48


@pytest.fixture
async def db(vibetuner_mongo: EmbeddedMongo) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(vibetuner_mongo.url)
    yield client[f"unlock_{uuid.uuid4().hex[:8]}"]
    await client.close()


def _refused(token: str, key: str = KEY, **kwargs: Any) -> str:
    with pytest.raises(UnlockRefused) as refused:
        verify_token(token, key, **kwargs)
    return refused.value.reason


def test_a_changed_signature_expiry_or_nonce_is_forged() -> None:
    token, _ = issue_token(KEY, 10)
    expiry, nonce, signature = token.split(".")
    assert _refused(f"{expiry}.{nonce}.{signature[:-2]}xx") == "forged"
    assert _refused(f"{int(expiry) + 3600}.{nonce}.{signature}") == "forged"
    assert _refused(f"{expiry}.{nonce}A.{signature}") == "forged"
    for junk in ("", "a.b", "x.y.z", "1.2.3.4", "9" * 400 + ".n.s", "\x00.\x00.\x00"):
        assert _refused(junk) == "forged"


def test_another_key_or_an_empty_key_is_refused() -> None:
    token, _ = issue_token(KEY, 10)
    assert _refused(token, KEY + "x") == "forged"
    assert _refused(token, "") == "forged"


def test_an_expired_token_is_refused() -> None:
    token, expires_at = issue_token(KEY, 1, now=datetime.now(UTC) - timedelta(minutes=2))
    assert expires_at < datetime.now(UTC)
    assert _refused(token) == "expired"
    fresh, _ = issue_token(KEY, 10)
    assert _refused(fresh, now=datetime.now(UTC) + timedelta(minutes=11)) == "expired"


def test_minutes_are_bounded() -> None:
    for minutes in (0, -1, 61):
        with pytest.raises(ValueError, match="minutes"):
            issue_token(KEY, minutes)


async def test_a_fresh_token_works_once(db: Any) -> None:
    token, expires_at = issue_token(KEY, 10)
    grant = verify_token(token, KEY)
    assert grant.expires_at == expires_at
    await consume(grant, db)
    with pytest.raises(UnlockRefused) as replay:
        await consume(verify_token(token, KEY), db)
    assert replay.value.reason == "replayed"
    other, _ = issue_token(KEY, 10)
    await consume(verify_token(other, KEY), db)  # nonces are per token
