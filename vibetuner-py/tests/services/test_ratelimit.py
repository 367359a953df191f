"""Rule parsing, the 429 helper, the store selector, and what only one backend does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.exceptions import HTTPException

import vibetuner.services.ratelimit as ratelimit
from vibetuner.data._embedded import EmbeddedMongo
from vibetuner.services.ratelimit import (
    MemoryRateLimitStore,
    MongoRateLimitStore,
    RateLimitExceeded,
    RateLimitRule,
    RedisRateLimitStore,
    enforce,
    get_rate_limit_store,
    reset_rate_limit_store,
    set_rate_limit_store,
)


@pytest.mark.parametrize(
    ("text", "limit", "window"),
    [
        ("5/minute", 5, 60),
        ("3/15minutes", 3, 900),
        ("3/15 minutes", 3, 900),
        ("10/second", 10, 1),
        ("3/2seconds", 3, 2),
        ("100/hour", 100, 3600),
        ("1000/day", 1000, 86400),
        (" 7 / 2 Hours ", 7, 7200),
    ],
)
def test_parse_reads_limit_and_window(text: str, limit: int, window: int) -> None:
    assert RateLimitRule.parse(text) == RateLimitRule(limit=limit, window=window)


@pytest.mark.parametrize(
    "text", ["", "5", "5/", "five/minute", "5/fortnight", "5/0minutes", "0/minute", "-1/hour"]
)
def test_parse_refuses_bad_rules_and_shows_the_accepted_form(text: str) -> None:
    with pytest.raises(ValueError, match=r'"5/minute"|must be >= 1'):
        RateLimitRule.parse(text)


def test_rule_needs_a_positive_limit_and_window() -> None:
    with pytest.raises(ValueError):
        RateLimitRule(limit=0, window=60)
    assert RateLimitRule.coerce("2/minute") is not None
    rule = RateLimitRule(2, 60)
    assert RateLimitRule.coerce(rule) is rule
    assert RateLimitRule.parse(str(rule)) == rule


async def test_enforce_raises_a_429_with_retry_after() -> None:
    store = MemoryRateLimitStore()
    result = await enforce("k", "1/hour", store=store)
    assert result.allowed and result.remaining == 0
    with pytest.raises(RateLimitExceeded) as caught:
        await enforce("k", "1/hour", store=store)
    exc = caught.value
    assert isinstance(exc, HTTPException)
    assert exc.status_code == 429
    assert exc.retry_after >= 1
    assert exc.headers == {"Retry-After": str(exc.retry_after)}
    assert exc.detail == f"Too many attempts. Try again in {exc.retry_after} seconds."
    assert RateLimitExceeded(1).detail == "Too many attempts. Try again in 1 second."


async def test_enforce_uses_the_process_store() -> None:
    store = MemoryRateLimitStore()
    set_rate_limit_store(store)
    try:
        assert get_rate_limit_store() is store
        await enforce("k", RateLimitRule(1, 60))
        with pytest.raises(RateLimitExceeded):
            await enforce("k", RateLimitRule(1, 60))
    finally:
        reset_rate_limit_store()


async def test_selector_prefers_redis_then_mongo_then_memory(
    settings_env: pytest.MonkeyPatch,
) -> None:
    from vibetuner.data._redis import close_redis

    reset_rate_limit_store()
    try:
        assert isinstance(get_rate_limit_store(), MemoryRateLimitStore)
        assert get_rate_limit_store() is get_rate_limit_store()
        settings_env.setenv("DATABASE_URL", "mongodb://127.0.0.1:1/app")
        _reload(settings_env)
        assert isinstance(get_rate_limit_store(), MongoRateLimitStore)
        settings_env.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
        _reload(settings_env)
        assert isinstance(get_rate_limit_store(), RedisRateLimitStore)
    finally:
        reset_rate_limit_store()
        await close_redis()


def _reload(env: pytest.MonkeyPatch) -> None:
    from vibetuner.config import reset_settings

    reset_settings()
    reset_rate_limit_store()


async def test_mongo_store_looks_up_its_collection_late(settings_env: pytest.MonkeyPatch) -> None:
    from vibetuner.exceptions import DatabaseUnavailable

    settings_env.setenv("DATABASE_URL", "mongodb://127.0.0.1:1/app")
    reset_rate_limit_store()
    try:
        store = get_rate_limit_store()
        with pytest.raises(DatabaseUnavailable):
            await store.hit("k", RateLimitRule(1, 60))
    finally:
        reset_rate_limit_store()
    with pytest.raises(ValueError):
        MongoRateLimitStore()


async def test_mongo_store_builds_a_ttl_index(vibetuner_mongo: EmbeddedMongo) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(vibetuner_mongo.url)
    collection = client[f"ratelimit_{uuid.uuid4().hex[:8]}"]["rate_limits"]
    try:
        await MongoRateLimitStore(collection).ensure_indexes()
        indexes = await collection.index_information()
        ttl = [spec for spec in indexes.values() if "expireAfterSeconds" in spec]
        assert [(spec["key"], spec["expireAfterSeconds"]) for spec in ttl] == [
            ([("expires_at", 1)], 0)
        ]
    finally:
        await client.close()


async def test_memory_store_forgets_idle_keys() -> None:
    now = [1_000_000.0]
    store = MemoryRateLimitStore(clock=lambda: now[0])
    await store.hit("idle", RateLimitRule(5, 10))
    now[0] += 3600
    await store.hit("busy", RateLimitRule(5, 10))
    assert "idle" not in store._counts
    assert "busy" in store._counts


def test_public_names_are_curated() -> None:
    assert ratelimit.__all__ == sorted(ratelimit.__all__)
    assert all(hasattr(ratelimit, name) for name in ratelimit.__all__)
