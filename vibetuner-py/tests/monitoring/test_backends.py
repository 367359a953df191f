"""DB and Redis latency histograms move with real queries; active sessions are counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from coredis.exceptions import ResponseError
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from tests.monitoring.conftest import sample
from vibetuner.data._redis_clients import close_client, open_client
from vibetuner.monitoring import (
    count_mongo_sessions,
    count_redis_sessions,
    instrument_redis,
    mongo_metrics,
    track_collections,
)

if TYPE_CHECKING:
    from tests.conftest import RedisServer
    from vibetuner.data._embedded import EmbeddedMongo

DB = "vibetuner_db_call_seconds_count"
REDIS = "vibetuner_redis_call_seconds_count"


async def test_mongo_commands_are_timed(vibetuner_mongo: EmbeddedMongo) -> None:
    def count(command: str, collection: str) -> float:
        return sample(DB, command=command, collection=collection)

    track_collections(["sessions"])
    inserts, finds = count("insert", "sessions"), count("find", "sessions")
    counts = count("aggregate", "sessions")
    errors = sample("vibetuner_db_call_errors_total", command="other", collection="none")
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        vibetuner_mongo.url, event_listeners=mongo_metrics().listeners()
    )
    try:
        sessions = mongo["monitoring_test"]["sessions"]
        now = datetime.now(UTC)
        await sessions.insert_one({"_id": "live", "expires_at": now + timedelta(hours=1)})
        await sessions.insert_one({"_id": "gone", "expires_at": now - timedelta(hours=1)})
        assert await sessions.find_one({"_id": "live"}) is not None
        assert await count_mongo_sessions(sessions) == 1
        with pytest.raises(OperationFailure):
            await mongo.admin.command("noSuchCommand")
    finally:
        await mongo.drop_database("monitoring_test")
        await mongo.close()
    assert count("insert", "sessions") == inserts + 2
    assert count("find", "sessions") == finds + 1
    assert count("aggregate", "sessions") == counts + 1  # count_documents aggregates
    # An unknown command is "other", on no collection: the labels stay bounded.
    assert sample("vibetuner_db_call_errors_total", command="other", collection="none") == (
        errors + 1
    )


async def test_redis_commands_and_pipelines_are_timed(redis_server: RedisServer) -> None:
    sets, gets, pipes = (
        sample(REDIS, command="SET"),
        sample(REDIS, command="GET"),
        sample(REDIS, command="PIPELINE"),
    )
    client = instrument_redis(open_client(redis_server.url))
    assert instrument_redis(client) is client  # idempotent: no double wrapping
    try:
        await client.set("session:a", "one", ex=60)
        assert await client.get("session:a") == b"one"
        async with client.pipeline(transaction=True) as pipe:
            pipe.set("session:b", "2", ex=60)
            pipe.set("other:c", "3", ex=60)
        assert await count_redis_sessions(client) == 2
        assert await count_redis_sessions(client, cap=1) == 1
        with pytest.raises(ResponseError):
            await client.incr("session:a")  # not a number: the server refuses
    finally:
        await close_client(client)
    assert sample(REDIS, command="SET") == sets + 1
    assert sample(REDIS, command="GET") == gets + 1
    assert sample(REDIS, command="PIPELINE") == pipes + 1
    assert sample(REDIS, command="SCAN") >= 2
    assert sample("vibetuner_redis_call_errors_total", command="INCR") >= 1
